package alertstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/clickhouse"
	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/schemas"
)

// chDB is one engine per process: the test binary shares one directory.
var (
	testWH  warehouse.Warehouse
	testErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "amoskys-alertstore-")
	if err != nil {
		panic(err)
	}
	code := m.Run()
	if testWH != nil {
		_ = testWH.Close()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var whDir string

func needWarehouse(t *testing.T) warehouse.Warehouse {
	t.Helper()
	if testWH == nil && testErr == nil {
		whDir = t.TempDir()
		ctx := context.Background()
		testWH, testErr = warehouse.Open(ctx, "chdb://"+whDir)
		if testErr == nil {
			testErr = warehouse.Migrate(ctx, testWH, clickhouse.Migrations())
		}
	}
	if testErr != nil {
		if errors.Is(testErr, warehouse.ErrLibraryMissing) && os.Getenv("AMOSKYS_REQUIRE_DEPS") != "1" {
			t.Skipf("libchdb missing: %v", testErr)
		}
		t.Fatalf("warehouse: %v", testErr)
	}
	return testWH
}

func TestQuoteRoundTripsThroughClickHouse(t *testing.T) {
	w := needWarehouse(t)
	for _, c := range append(quoteCases, struct{ in, want string }{"\t'\"\\\\'\r\n`", ""}) {
		out, err := w.Query(t.Context(), "SELECT hex("+Quote(c.in)+") AS h", "TabSeparated")
		require.NoError(t, err, c.in)
		require.Equal(t, fmt.Sprintf("%X", c.in), string(trimNL(out)), "%q", c.in)
	}
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func TestStoreOnWarehouse(t *testing.T) {
	w := needWarehouse(t)
	ctx := t.Context()
	require.NoError(t, w.Exec(ctx, "TRUNCATE TABLE alerts"))
	var all []*schemas.AlertEvent
	for i := range 30 {
		a := mk(i, []string{"h1", "h'2"}[i%2], []schemas.Severity{schemas.SeverityLow, schemas.SeverityHigh, schemas.SeverityCritical}[i%3])
		a.EvidenceIDs = []string{fmt.Sprintf("ev%d", i)}
		a.History = []schemas.ScoreChange{{Time: a.Time, Score: 0.5, Severity: a.Severity, Layer: "temporal"}}
		all = append(all, a)
	}
	require.NoError(t, warehouse.InsertAlerts(ctx, w, all))
	ev := &schemas.TelemetryEvent{SchemaVersion: 1, ID: "ev3", Kind: schemas.KindProcessExec, Time: t0, Host: "h'2", Source: "process",
		Process: &schemas.Process{PID: 7, Name: "sh", Exe: "/bin/sh", StartTime: t0}}
	require.NoError(t, warehouse.InsertTelemetry(ctx, w, []*schemas.TelemetryEvent{ev}))

	// an index holding only the 5 newest sends deeper pages to the warehouse
	s := NewStore(w, 5, NewHub())
	require.NoError(t, s.Warm(ctx))
	require.Equal(t, 5, s.Index.Len())
	require.True(t, s.Index.Truncated())
	var got []string
	var cur *Cursor
	for {
		page, next, err := s.Recent(ctx, Filter{Limit: 7, Cursor: cur})
		require.NoError(t, err)
		got = append(got, ids(t, page)...)
		if next == nil {
			break
		}
		cur = next
	}
	require.Len(t, got, 30)
	require.Equal(t, "a00029", got[0])
	require.Equal(t, "a00000", got[29])

	page, _, err := s.Recent(ctx, Filter{Limit: 100, Host: "h'2", Severities: []schemas.Severity{schemas.SeverityCritical}})
	require.NoError(t, err)
	require.Equal(t, []string{"a00029", "a00023", "a00017", "a00011", "a00005"}, ids(t, page))

	a, err := s.Get(ctx, "a00003")
	require.NoError(t, err)
	require.Equal(t, "h'2", a.Host)
	require.Len(t, a.Layers, 1)
	require.Len(t, a.History, 1)
	require.Equal(t, t0.Add(3*time.Second), a.Time)

	_, err = s.SetStatus(ctx, "a00003", schemas.StatusResolved, "ana", t0.Add(time.Hour))
	require.NoError(t, err)
	s2 := NewStore(w, 5, NewHub()) // a fresh store reads the new version from the warehouse
	a, err = s2.Get(ctx, "a00003")
	require.NoError(t, err)
	require.Equal(t, schemas.StatusResolved, a.Status)
	require.Equal(t, "ana", a.StatusBy)
	require.EqualValues(t, 2, a.Version)
	page, _, err = s2.Recent(ctx, Filter{Limit: 100, Statuses: []schemas.AlertStatus{schemas.StatusResolved}})
	require.NoError(t, err)
	require.Equal(t, []string{"a00003"}, ids(t, page))

	evs, err := s.Evidence(ctx, a.EvidenceIDs)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Contains(t, string(evs[0]), `"table":"process_events"`)

	st, err := s.Stats(ctx, t0.Add(-time.Hour), t0.Add(time.Hour), 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, "warehouse", st.Source)
	require.EqualValues(t, 30, st.Total)
	require.EqualValues(t, 10, st.BySeverity["CRITICAL"])
	require.EqualValues(t, 15, st.ByHost["h'2"])
	require.EqualValues(t, 30, st.ByLayer["temporal"])
	require.Len(t, st.Series, 3)

	// One host's stats (a host with a quote in it: the value is quoted, never spliced raw).
	st, err = s.StatsHost(ctx, "h'2", t0.Add(-time.Hour), t0.Add(time.Hour), 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, "warehouse", st.Source)
	require.EqualValues(t, 15, st.Total)
	require.Equal(t, map[string]int64{"h'2": 15}, st.ByHost)
	require.EqualValues(t, 15, st.ByLayer["temporal"])
}
