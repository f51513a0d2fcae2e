package warehouse_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/amoskys/amoskys/plugins/warehouse"
)

// chDB is one engine per process: the whole test binary shares one data directory.
var (
	testDSN     string
	testWH      warehouse.Warehouse
	testOpenErr error
)

func TestMain(m *testing.M) {
	if os.Getenv("AMOSKYS_WH_CHILD") == "missing" {
		childMissingLib()
	}
	dir, err := os.MkdirTemp("", "amoskys-warehouse-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testDSN = "chdb://" + dir
	testWH, testOpenErr = warehouse.Open(context.Background(), testDSN)
	code := m.Run()
	if testWH != nil {
		_ = testWH.Close()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// needCHDB returns the shared embedded warehouse, or skips (fails with AMOSKYS_REQUIRE_DEPS=1)
// when libchdb is missing.
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
