package warehouse_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/plugins/warehouse/warehousetest"
)

func TestConformanceCHDB(t *testing.T) {
	needCHDB(t)
	warehousetest.Run(t, func(t *testing.T) warehouse.Warehouse {
		w, err := warehouse.Open(t.Context(), testDSN)
		require.NoError(t, err)
		t.Cleanup(func() { _ = w.Close() })
		return w
	})
}

func TestConformanceServer(t *testing.T) {
	dsn := os.Getenv("AMOSKYS_TEST_CLICKHOUSE_DSN")
	if dsn == "" {
		t.Skip("AMOSKYS_TEST_CLICKHOUSE_DSN is not set: no ClickHouse server to test against")
	}
	warehousetest.Run(t, func(t *testing.T) warehouse.Warehouse {
		w, err := warehouse.Open(t.Context(), dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = w.Close() })
		return w
	})
}
