package clickhouse_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/amoskys/amoskys/clickhouse"
	"github.com/amoskys/amoskys/plugins/warehouse"
)

// chDB is one engine per process: the whole test binary shares one data directory, and the
// plugins under test open the same DSN (shared handle).
var (
	testDSN     string
	testWH      warehouse.Warehouse
	testOpenErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "amoskys-clickhouse-plugin-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testDSN = "chdb://" + dir
	testWH, testOpenErr = warehouse.Open(context.Background(), testDSN)
	if testOpenErr == nil {
		testOpenErr = warehouse.Migrate(context.Background(), testWH, clickhouse.Migrations())
	}
	code := m.Run()
	if testWH != nil {
		_ = testWH.Close()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func needCHDB(t testing.TB) warehouse.Warehouse {
	t.Helper()
	if testOpenErr != nil {
		if errors.Is(testOpenErr, warehouse.ErrLibraryMissing) && os.Getenv("AMOSKYS_REQUIRE_DEPS") != "1" {
			t.Skipf("libchdb missing: %v", testOpenErr)
		}
		t.Fatalf("opening %s: %v", testDSN, testOpenErr)
	}
	return testWH
}
