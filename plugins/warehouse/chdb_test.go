package warehouse_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/plugins/warehouse/warehousetest"
)

func TestCHDBVersion(t *testing.T) {
	w := needCHDB(t)
	out, err := w.Query(t.Context(), "SELECT version()", "TabSeparated")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(out), "26."), "version %q", out)
	require.Equal(t, "chdb", w.Backend())
}

func TestCHDBSharedHandle(t *testing.T) {
	needCHDB(t)
	w2, err := warehouse.Open(t.Context(), testDSN)
	require.NoError(t, err)
	require.NoError(t, w2.Close())
	require.NoError(t, w2.Close(), "second Close is a no-op")
	_, err = w2.Query(t.Context(), "SELECT 1", "TSV")
	require.ErrorIs(t, err, warehouse.ErrClosed)
	// The first handle still works.
	out, err := testWH.Query(t.Context(), "SELECT 1", "TSV")
	require.NoError(t, err)
	require.Equal(t, "1\n", string(out))
}

func TestCHDBOtherPathRefused(t *testing.T) {
	needCHDB(t)
	_, err := warehouse.Open(t.Context(), "chdb://"+t.TempDir())
	require.ErrorIs(t, err, warehouse.ErrEngineBusy)
}

func TestCHDBSQLErrors(t *testing.T) {
	w := needCHDB(t)
	for _, q := range []string{"SELEC 1 FROM", "SELECT * FROM no_such_table", "SELECT 1 +", ""} {
		_, err := w.Query(t.Context(), q, "TabSeparated")
		require.Error(t, err, q)
	}
	_, err := w.Query(t.Context(), "SELECT 1", "NoSuchFormat")
	require.Error(t, err)
	require.Contains(t, err.Error(), "NoSuchFormat")
}

func TestMigrateIdempotent(t *testing.T) {
	w := needCHDB(t)
	// Names of their own, so the test can run again in the same engine (-count).
	id := strings.ReplaceAll(warehousetest.Host(t), "-", "_")
	a, b := "0001_"+id+".sql", "0002_"+id+".sql"
	fsys := fstest.MapFS{
		a: {Data: []byte("-- first\nCREATE TABLE IF NOT EXISTS " + id + "_a (x UInt8) ENGINE = MergeTree ORDER BY x;\nCREATE TABLE IF NOT EXISTS " + id + "_b (t DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY t TTL toDateTime(t) + INTERVAL {retention_days} DAY;\n")},
		b: {Data: []byte("INSERT INTO " + id + "_a VALUES (1);")},
	}
	done, err := warehouse.Apply(t.Context(), w, fsys, warehouse.WithRetentionDays(7))
	require.NoError(t, err)
	require.Equal(t, []string{a, b}, done)
	done, err = warehouse.Apply(t.Context(), w, fsys, warehouse.WithRetentionDays(7))
	require.NoError(t, err)
	require.Empty(t, done)
	out, err := w.Query(t.Context(), "SELECT count() FROM "+id+"_a", "TSV")
	require.NoError(t, err)
	require.Equal(t, "1\n", string(out), "the second file ran once")
	ddl, err := w.Query(t.Context(), "SHOW CREATE TABLE "+id+"_b", "TSV")
	require.NoError(t, err)
	require.Contains(t, string(ddl), "toIntervalDay(7)")

	changed := fstest.MapFS{b: {Data: []byte("INSERT INTO " + id + "_a VALUES (2);")}}
	require.ErrorContains(t, warehouse.Migrate(t.Context(), w, changed), "changed after it was applied")
	bad := fstest.MapFS{"0003_" + id + ".sql": {Data: []byte("CREATE TABLE {nope} (x UInt8) ENGINE = Memory")}}
	require.ErrorContains(t, warehouse.Migrate(t.Context(), w, bad), "unknown placeholder {nope}")
	broken := fstest.MapFS{"0004_" + id + ".sql": {Data: []byte("CREATE TABLOID x")}}
	require.ErrorContains(t, warehouse.Migrate(t.Context(), w, broken), "0004_"+id+".sql statement 1")
	require.ErrorContains(t, warehouse.Migrate(t.Context(), w, fsys, warehouse.WithRetentionDays(0)), "retention_days")
}
