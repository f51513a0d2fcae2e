package clickhouse_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/clickhouse"
	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/plugins/warehouse/warehousetest"
	"github.com/amoskys/amoskys/schemas"
)

var (
	testWH      warehouse.Warehouse
	testOpenErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "amoskys-queries-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testWH, testOpenErr = warehouse.Open(context.Background(), "chdb://"+dir)
	code := m.Run()
	if testWH != nil {
		_ = testWH.Close()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func needCHDB(t *testing.T) warehouse.Warehouse {
	t.Helper()
	if testOpenErr != nil {
		if errors.Is(testOpenErr, warehouse.ErrLibraryMissing) && os.Getenv("AMOSKYS_REQUIRE_DEPS") != "1" {
			t.Skipf("libchdb missing: %v", testOpenErr)
		}
		t.Fatalf("opening chdb: %v", testOpenErr)
	}
	return testWH
}

// Every saved query is read-only, runs on the embedded warehouse, and finds what the fixture holds.
func TestSavedQueries(t *testing.T) {
	w := needCHDB(t)
	warehousetest.Migrated(t, w)
	host := warehousetest.Host(t)
	evs := warehousetest.Events(host)
	require.NoError(t, warehouse.InsertTelemetry(t.Context(), w, evs))
	s := 0.7
	require.NoError(t, warehouse.InsertAlerts(t.Context(), w, []*schemas.AlertEvent{{SchemaVersion: 1, ID: host + "-a", Time: warehousetest.Base,
		Host: host, Entity: "bash", Title: "t", Severity: schemas.SeverityHigh, Score: 0.7, Count: 2, FirstSeen: warehousetest.Base,
		LastSeen: warehousetest.Base, Status: schemas.StatusOpen, Version: 1, Layers: []schemas.LayerBreakdown{{Layer: "geometric", Score: &s, Weight: 1}}}}))
	require.NoError(t, warehouse.InsertDeadLetter(t.Context(), w, []warehouse.DeadLetter{{Time: time.Now(), Source: host, Target: "x", Reason: "because", Payload: []byte("{}")}}))

	// What each query must find in the fixture (a substring of its TSV output; the tables may
	// hold other tests' rows too, so per-host findings are exact and global ones are not).
	expect := map[string]string{
		"busiest_processes.sql":         "bash\t/usr/bin/bash\t1\t12.5",
		"new_executables_last_hour.sql": "/usr/bin/bash",
		"connections_by_remote.sql":     "203.0.113.9\t[443]",
		"alerts_by_severity.sql":        "\tHIGH\t",
		"new_listeners.sql":             "tcp6\t::\t4444\tnc",
		"dead_letters_by_reason.sql":    host + "\tx\tbecause\t1",
		"open_alerts.sql":               "[('geometric',0.7)]",
		"privilege_crossings.sql":       "systemd > sshd",
		"host_cpu_timeline.sql":         "42.25",
		"snmp_interface_traffic.sql":    "192.0.2.1\teth0\t1000000",
		"ingest_by_table.sql":           "2026-11-20\tprocess_events\t",
		"devices_seen.sql":              "192.0.2.1\t00:11:22:33:44:55\tsw1\tappeared",
	}
	names, err := fs.Glob(clickhouse.Queries(), "*.sql")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(names), 10)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			raw, err := fs.ReadFile(clickhouse.Queries(), name)
			require.NoError(t, err)
			q := string(raw)
			require.True(t, strings.HasPrefix(q, "-- "), "starts with a comment saying what it answers")
			require.NoError(t, warehouse.CheckReadOnly(q), "runnable through /api/sql")
			out, err := w.Query(t.Context(), q, "TabSeparated")
			require.NoError(t, err)
			want, ok := expect[name]
			require.True(t, ok, "add the expected finding of %s to the table", name)
			require.Contains(t, string(out), want)
		})
	}
}
