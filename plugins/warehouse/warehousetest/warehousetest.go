// Package warehousetest is the conformance suite every warehouse backend passes: migrations,
// inserts of every kind read back, idempotent re-inserts, dead letters, bad rows, output
// formats, the read-only check and concurrent use. Backends differ only by the handle they open.
package warehousetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/clickhouse"
	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/schemas"
)

// Run runs the suite. open returns a warehouse for one subtest; it may return the same shared
// handle every time (chDB allows one engine per process). Every subtest writes rows under its
// own random host name, so subtests do not see each other's data.
func Run(t *testing.T, open func(t *testing.T) warehouse.Warehouse) {
	t.Run("Migrate", func(t *testing.T) { testMigrate(t, open(t)) })
	t.Run("InsertEveryKind", func(t *testing.T) { testInsertEveryKind(t, open(t)) })
	t.Run("IdempotentReinsert", func(t *testing.T) { testIdempotent(t, open(t)) })
	t.Run("FeaturesAndAlerts", func(t *testing.T) { testFeaturesAlerts(t, open(t)) })
	t.Run("DeadLetter", func(t *testing.T) { testDeadLetter(t, open(t)) })
	t.Run("BadRows", func(t *testing.T) { testBadRows(t, open(t)) })
	t.Run("QueryFormats", func(t *testing.T) { testFormats(t, open(t)) })
	t.Run("SQLErrors", func(t *testing.T) { testSQLErrors(t, open(t)) })
	t.Run("ReadOnly", func(t *testing.T) { testReadOnly(t, open(t)) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open(t)) })
}

// Migrated applies the project's migrations (idempotent).
func Migrated(t testing.TB, w warehouse.Warehouse) {
	t.Helper()
	require.NoError(t, warehouse.Migrate(context.Background(), w, clickhouse.Migrations(), warehouse.WithRetentionDays(30)))
}

// Host returns a fresh host name for one test.
func Host(t testing.TB) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "conf-" + hex.EncodeToString(b)
}

// Base is the event time of the suite's events (fixed: tests never use the wall clock).
var Base = time.Date(2026, 11, 20, 10, 0, 0, 123456000, time.UTC)

// Events returns one event of every kind for host.
func Events(host string) []*schemas.TelemetryEvent {
	exit := int32(3)
	mk := func(i int, k schemas.Kind) *schemas.TelemetryEvent {
		return &schemas.TelemetryEvent{SchemaVersion: schemas.TelemetryVersion, ID: fmt.Sprintf("%s-%d", host, i),
			Kind: k, Time: Base.Add(time.Duration(i) * time.Second), Host: host, Source: "test"}
	}
	var evs []*schemas.TelemetryEvent
	e := mk(0, schemas.KindProcessExec)
	e.Process = &schemas.Process{PID: 4242, PPID: 1, StartTime: Base.Add(-time.Second), Name: "bash",
		Exe: "/usr/bin/bash", Cmdline: "bash -c 'echo \"hi\"\tthere'\n", Cwd: "/tmp", ExeInWritableDir: true,
		UID: 1000, EUID: 0, SUID: 0, GID: 1000, EGID: 1000, SGID: 1000, User: "alice", TTY: "pts/0",
		Cgroup: "/user.slice", CapEff: "000001ffffffffff", SocketFDs: 2, StdioSocket: true,
		Ancestry: []schemas.Ancestor{{PID: 77, Name: "sshd", Exe: "/usr/sbin/sshd", Cmdline: "sshd: alice [priv]", UID: 0, EUID: 0},
			{PID: 1, Name: "systemd", Exe: "/usr/lib/systemd/systemd", Cmdline: "/sbin/init", UID: 0, EUID: 0}}} // parent first
	e.Labels = map[string]string{"team": "blue", "quote": "it's"}
	evs = append(evs, e)
	e = mk(1, schemas.KindProcessExit)
	e.Process = &schemas.Process{PID: 4242, PPID: 1, StartTime: Base.Add(-time.Second), Name: "bash", ExitCode: &exit}
	evs = append(evs, e)
	e = mk(2, schemas.KindProcessSample)
	e.Process = &schemas.Process{PID: 4242, PPID: 1, StartTime: Base.Add(-time.Second), Name: "bash", Exe: "/usr/bin/bash",
		CPUPercent: 12.5, RSSBytes: 1 << 33, Threads: 3, FDs: 9, ReadBytes: 100, WriteBytes: 200, UID: 1000, EUID: 1000}
	evs = append(evs, e)
	e = mk(3, schemas.KindConnection)
	e.Conn = &schemas.Connection{Action: "opened", Proto: "tcp", LocalAddr: "10.0.0.5", LocalPort: 51234,
		RemoteAddr: "203.0.113.9", RemotePort: 443, State: "ESTABLISHED", PID: 4242, Process: "bash", Exe: "/usr/bin/bash", UID: 1000}
	evs = append(evs, e)
	e = mk(4, schemas.KindListener)
	e.Conn = &schemas.Connection{Action: "opened", Proto: "tcp6", LocalAddr: "::", LocalPort: 4444, State: "LISTEN", PID: 4242, Process: "nc"}
	evs = append(evs, e)
	e = mk(5, schemas.KindHostMetric)
	e.Metric = &schemas.Metric{Name: "cpu.user", Value: 42.25, Unit: "percent", Labels: map[string]string{"cpu": "total"}}
	evs = append(evs, e)
	e = mk(6, schemas.KindSNMPMetric)
	e.Metric = &schemas.Metric{Name: "if.in_octets_per_s", Value: 1e6, Unit: "bytes_per_s", Device: "192.0.2.1",
		Labels: map[string]string{"interface": "eth0", "ifIndex": "2"}}
	evs = append(evs, e)
	e = mk(7, schemas.KindDevice)
	e.Device = &schemas.Device{Action: "appeared", Address: "192.0.2.1", MAC: "00:11:22:33:44:55", SysName: "sw1",
		SysDescr: "Switch\nv1", SysObjectID: "1.3.6.1.4.1.9", Via: "arp"}
	evs = append(evs, e)
	return evs
}

// count runs a count query.
func count(t testing.TB, w warehouse.Warehouse, q string) int {
	t.Helper()
	out, err := w.Query(context.Background(), q, "TabSeparated")
	require.NoError(t, err, q)
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	require.NoError(t, err, "%s: %q", q, out)
	return n
}

func testMigrate(t *testing.T, w warehouse.Warehouse) {
	Migrated(t, w)
	done, err := warehouse.Apply(t.Context(), w, clickhouse.Migrations())
	require.NoError(t, err)
	require.Empty(t, done, "second run applies nothing")
	for _, table := range append(append([]string{}, warehouse.TelemetryTables...), warehouse.TableFeatures,
		warehouse.TableAlerts, warehouse.TableAlertsReplay, warehouse.TableDeadLetter, warehouse.TableReplayRuns, "schema_migrations") {
		require.Equal(t, 1, count(t, w, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = "+warehouse.Quote(table)), table)
	}
	require.Positive(t, count(t, w, "SELECT count() FROM schema_migrations FINAL"))
}

// normalise makes an event comparable with what comes back from the warehouse.
func normalise(ev *schemas.TelemetryEvent) *schemas.TelemetryEvent {
	c := *ev
	c.Time = c.Time.UTC()
	if c.Metric != nil {
		m := *c.Metric
		lb := map[string]string{}
		for k, v := range c.Labels {
			lb[k] = v
		}
		for k, v := range m.Labels {
			lb[k] = v
		}
		if len(lb) == 0 {
			lb = nil
		}
		m.Labels, c.Labels = lb, nil
		c.Metric = &m
	}
	if c.Process != nil {
		p := *c.Process
		p.StartTime = p.StartTime.UTC()
		c.Process = &p
	}
	return &c
}

// ReadBack reads host's events from every telemetry table in event-time order.
func ReadBack(t testing.TB, w warehouse.Warehouse, host string) []*schemas.TelemetryEvent {
	t.Helper()
	var all []*schemas.TelemetryEvent
	for _, table := range warehouse.TelemetryTables {
		q, err := warehouse.TelemetryQuery(table, time.Time{}, time.Time{}, []string{host}, time.Time{}, "", 0)
		require.NoError(t, err)
		out, err := w.Query(context.Background(), q, "JSONEachRow")
		require.NoError(t, err, q)
		evs, err := warehouse.DecodeTelemetry(table, out)
		require.NoError(t, err)
		all = append(all, evs...)
	}
	return all
}

func byID(evs []*schemas.TelemetryEvent) map[string]*schemas.TelemetryEvent {
	m := map[string]*schemas.TelemetryEvent{}
	for _, e := range evs {
		m[e.ID] = e
	}
	return m
}

func testInsertEveryKind(t *testing.T, w warehouse.Warehouse) {
	Migrated(t, w)
	host := Host(t)
	evs := Events(host)
	require.NoError(t, warehouse.InsertTelemetry(t.Context(), w, evs))
	got := byID(ReadBack(t, w, host))
	require.Len(t, got, len(evs))
	for _, ev := range evs {
		want, _ := json.Marshal(normalise(ev))
		have, _ := json.Marshal(got[ev.ID])
		require.JSONEq(t, string(want), string(have), "kind %s", ev.Kind)
	}
	require.Equal(t, 2, count(t, w, "SELECT count() FROM process_events WHERE host = "+warehouse.Quote(host)))
	require.Equal(t, 2, count(t, w, "SELECT count() FROM connections WHERE host = "+warehouse.Quote(host)))
}

func manySamples(host string, from, n int) []*schemas.TelemetryEvent {
	evs := make([]*schemas.TelemetryEvent, n)
	for i := range evs {
		j := from + i
		evs[i] = &schemas.TelemetryEvent{SchemaVersion: 1, ID: fmt.Sprintf("%s-s%d", host, j), Kind: schemas.KindHostMetric,
			Time: Base.Add(time.Duration(j) * time.Millisecond), Host: host, Source: "test",
			Metric: &schemas.Metric{Name: "cpu.user", Value: float64(j % 100), Unit: "percent"}}
	}
	return evs
}

func manyExecs(host string, from, n int) []*schemas.TelemetryEvent {
	evs := make([]*schemas.TelemetryEvent, n)
	for i := range evs {
		j := from + i
		evs[i] = &schemas.TelemetryEvent{SchemaVersion: 1, ID: fmt.Sprintf("%s-e%d", host, j), Kind: schemas.KindProcessExec,
			Time: Base.Add(time.Duration(j) * time.Millisecond), Host: host, Source: "test",
			Process: &schemas.Process{PID: int32(1000 + j), PPID: 1, Name: "sh", Exe: "/bin/sh"}}
	}
	return evs
}

func testIdempotent(t *testing.T, w warehouse.Warehouse) {
	Migrated(t, w)
	host := Host(t)
	hq := "SELECT count() FROM host_metrics WHERE host = " + warehouse.Quote(host)
	pq := "SELECT count() FROM process_events WHERE host = " + warehouse.Quote(host)
	samples, execs := manySamples(host, 0, 500), manyExecs(host, 0, 500)
	for range 2 {
		// A retried batch (same rows, same order) is dropped at insert: plain count() is exact.
		require.NoError(t, warehouse.InsertTelemetry(t.Context(), w, samples))
		require.NoError(t, warehouse.InsertTelemetry(t.Context(), w, execs))
	}
	require.Equal(t, 500, count(t, w, hq))
	require.Equal(t, 500, count(t, w, pq))

	// A re-cut batch overlapping the first (250 old + 250 new) is a different block.
	require.NoError(t, warehouse.InsertTelemetry(t.Context(), w, manySamples(host, 250, 500)))
	require.NoError(t, warehouse.InsertTelemetry(t.Context(), w, manyExecs(host, 250, 500)))
	// Event tables (ReplacingMergeTree) collapse by id: FINAL is exact, and so is count() after a merge.
	require.Equal(t, 750, count(t, w, strings.Replace(pq, "process_events", "process_events FINAL", 1)))
	require.NoError(t, w.Exec(t.Context(), "OPTIMIZE TABLE process_events FINAL"))
	require.Equal(t, 750, count(t, w, pq))
	// Sample tables (MergeTree) keep the duplicate rows; readers drop them by id.
	require.Equal(t, 1000, count(t, w, hq))
	require.Equal(t, 750, count(t, w, "SELECT uniqExact(id) FROM host_metrics WHERE host = "+warehouse.Quote(host)))
	require.Len(t, ReadBack(t, w, host), 1500, "750 samples and 750 execs, each once")
}

func testFeaturesAlerts(t *testing.T, w warehouse.Warehouse) {
	Migrated(t, w)
	host := Host(t)
	fv := &schemas.FeatureVector{SchemaVersion: 1, ID: host + "-fv", Host: host, KeyKind: "host", Key: "host",
		Entity: host, Window: "1m", Start: Base, End: Base.Add(time.Minute), Names: []string{"cpu.user.mean", "proc.new"},
		Values: []float64{12.5, 3}, Normalised: []float64{0.1, 0.2}, Flags: []string{"spike"}, EventIDs: []string{"a", "b"}}
	require.NoError(t, warehouse.InsertFeatures(t.Context(), w, []*schemas.FeatureVector{fv}))
	out, err := w.Query(t.Context(), "SELECT names, values, window FROM features WHERE host = "+warehouse.Quote(host), "TabSeparated")
	require.NoError(t, err)
	require.Equal(t, "['cpu.user.mean','proc.new']\t[12.5,3]\t1m\n", string(out))

	s1, s2 := 0.9, 0.4
	a := &schemas.AlertEvent{SchemaVersion: 1, ID: host + "-a1", Time: Base, Host: host, EntityKind: "process",
		Entity: "bash", Title: "shell under sshd", Summary: "x", Severity: schemas.SeverityHigh, Score: 0.8,
		Layers: []schemas.LayerBreakdown{{Layer: "geometric", Score: &s1, Weight: 0.5, Contribution: 0.45,
			Reasons: []schemas.Reason{{ID: "r1", Title: "t", Text: "why", Score: 0.9}}},
			{Layer: "temporal", Score: &s2, Weight: 0.3, Contribution: 0.12}, {Layer: "iforest", Weight: 0.2, Abstain: "no model"}},
		Count: 1, FirstSeen: Base, LastSeen: Base, Status: schemas.StatusOpen, Version: 1}
	require.NoError(t, warehouse.InsertAlerts(t.Context(), w, []*schemas.AlertEvent{a}))
	ack := *a
	at := Base.Add(time.Hour)
	ack.Status, ack.StatusBy, ack.StatusAt, ack.Version, ack.Count = schemas.StatusAcknowledged, "bob", &at, 2, 5
	require.NoError(t, warehouse.InsertAlerts(t.Context(), w, []*schemas.AlertEvent{&ack}))
	out, err = w.Query(t.Context(), "SELECT status, status_by, count, layer_names, layer_scores, severity_rank FROM alerts FINAL WHERE id = "+warehouse.Quote(a.ID), "TabSeparated")
	require.NoError(t, err)
	require.Equal(t, "acknowledged\tbob\t5\t['geometric','temporal','iforest']\t[0.9,0.4,NULL]\t3\n", string(out))
	out, err = w.Query(t.Context(), "SELECT JSONExtractString(layers, 1, 'reasons', 1, 'text') FROM alerts FINAL WHERE id = "+warehouse.Quote(a.ID), "TabSeparated")
	require.NoError(t, err)
	require.Equal(t, "why\n", string(out))

	rep := *a
	rep.RunID = host + "-run"
	require.NoError(t, warehouse.InsertAlerts(t.Context(), w, []*schemas.AlertEvent{&rep}))
	require.Equal(t, 1, count(t, w, "SELECT count() FROM alerts_replay WHERE run_id = "+warehouse.Quote(rep.RunID)))
	require.Equal(t, 1, count(t, w, "SELECT count() FROM alerts FINAL WHERE host = "+warehouse.Quote(host)))
}

func testDeadLetter(t *testing.T, w warehouse.Warehouse) {
	Migrated(t, w)
	src := Host(t)
	payload := []byte("{\"broken\": \ttrue\n")
	require.NoError(t, warehouse.InsertDeadLetter(t.Context(), w, []warehouse.DeadLetter{
		{Time: Base, Source: src, Target: "process_events", Reason: "event has no id", Payload: payload},
		{Time: Base, Source: src, Target: "host_metrics", Reason: "metric cpu.user value is not finite", ID: "x1", Payload: []byte("{}")},
	}))
	out, err := w.Query(t.Context(), "SELECT reason, payload FROM dead_letter WHERE source = "+warehouse.Quote(src)+" ORDER BY reason FORMAT JSONEachRow", "JSONEachRow")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 2)
	var r struct{ Reason, Payload string }
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &r))
	require.Equal(t, "event has no id", r.Reason)
	require.Equal(t, string(payload), r.Payload)
}

func testBadRows(t *testing.T, w warehouse.Warehouse) {
	Migrated(t, w)
	host := Host(t)
	good := Events(host)
	nan := *good[5]
	nanMetric := *nan.Metric
	nanMetric.Value = nanValue()
	nan.Metric, nan.ID = &nanMetric, host+"-nan"
	noID := *good[0]
	noID.ID = ""
	badKind := *good[0]
	badKind.ID, badKind.Kind = host+"-k", "telepathy"
	noPayload := *good[3]
	noPayload.ID, noPayload.Conn = host+"-np", nil
	oldTime := *good[5]
	oldTime.ID, oldTime.Time = host+"-old", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	mixed := append([]*schemas.TelemetryEvent{&nan, &noID, nil, &badKind, &noPayload, &oldTime}, good...)
	err := warehouse.InsertTelemetry(t.Context(), w, mixed)
	var me *warehouse.MappingError
	require.ErrorAs(t, err, &me)
	require.ErrorIs(t, err, warehouse.ErrBadRow)
	require.Len(t, me.Failed, 6)
	for i := 0; i < 6; i++ {
		require.Contains(t, me.Failed, i)
	}
	require.Len(t, ReadBack(t, w, host), len(good), "the good rows landed")

	// Values that do not fit the column: refused with a clear error, nothing written, no panic.
	err = w.Insert(t.Context(), "host_metrics", []string{"id", "time", "host", "value"}, [][]any{{"x", Base, host + "-2", "not a number"}})
	require.Error(t, err)
	err = w.Insert(t.Context(), "host_metrics", []string{"id", "time", "host"}, [][]any{{"x", Base}})
	require.Error(t, err)
	err = w.Insert(t.Context(), "no_such_table", []string{"id"}, [][]any{{"x"}})
	require.Error(t, err)
	err = w.Insert(t.Context(), "host_metrics; DROP TABLE alerts", []string{"id"}, [][]any{{"x"}})
	require.Error(t, err)
	err = w.Insert(t.Context(), "host_metrics", []string{"no_such_column"}, [][]any{{"x"}})
	require.Error(t, err)
	require.Equal(t, 0, count(t, w, "SELECT count() FROM host_metrics WHERE host = "+warehouse.Quote(host+"-2")))
}

func nanValue() float64 {
	var z float64
	return z / z
}

func testFormats(t *testing.T, w warehouse.Warehouse) {
	q := "SELECT toUInt8(number) AS n, toString(number) AS s FROM system.numbers LIMIT 2"
	for format, want := range map[string]string{
		"TabSeparated":          "0\t0\n1\t1\n",
		"TabSeparatedWithNames": "n\ts\n0\t0\n1\t1\n",
		"CSV":                   "0,\"0\"\n1,\"1\"\n",
		"JSONEachRow":           "{\"n\":0,\"s\":\"0\"}\n{\"n\":1,\"s\":\"1\"}\n",
	} {
		out, err := w.Query(t.Context(), q, format)
		require.NoError(t, err, format)
		require.Equal(t, want, string(out), format)
	}
	out, err := w.Query(t.Context(), q, "JSON")
	require.NoError(t, err)
	var doc struct {
		Rows int `json:"rows"`
	}
	require.NoError(t, json.Unmarshal(out, &doc))
	require.Equal(t, 2, doc.Rows)
	out, err = w.Query(t.Context(), q, "PrettyCompactMonoBlock")
	require.NoError(t, err)
	require.True(t, bytes.Contains(out, []byte("┌─n─┬─s─┐")), "%s", out)
	_, err = w.Query(t.Context(), q, "NoSuchFormat")
	require.Error(t, err)
}

func testSQLErrors(t *testing.T, w warehouse.Warehouse) {
	for _, q := range []string{"SELECT FROM WHERE", "SELECT * FROM no_such_table_xyz", "SELECT throwIf(1, 'boom')", ""} {
		_, err := w.Query(t.Context(), q, "TabSeparated")
		require.Error(t, err, q)
	}
	require.Error(t, w.Exec(t.Context(), "CREATE TABLOID x"))
	// The warehouse is still usable after errors.
	require.Equal(t, 1, count(t, w, "SELECT 1"))
}

func testReadOnly(t *testing.T, w warehouse.Warehouse) {
	Migrated(t, w)
	for _, q := range []string{"DROP TABLE alerts", "INSERT INTO dead_letter (reason) VALUES ('x')", "SELECT 1; DROP TABLE alerts"} {
		require.ErrorIs(t, warehouse.CheckReadOnly(q), warehouse.ErrReadOnly, q)
	}
	q := "SELECT count() FROM alerts"
	require.NoError(t, warehouse.CheckReadOnly(q))
	_, err := w.Query(t.Context(), q, "TabSeparated")
	require.NoError(t, err)
}

func testConcurrency(t *testing.T, w warehouse.Warehouse) {
	Migrated(t, w)
	host := Host(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				if err := warehouse.InsertTelemetry(context.Background(), w, manySamples(host, (g*5+i)*100, 100)); err != nil {
					errs <- err
					return
				}
				if _, err := w.Query(context.Background(), "SELECT count() FROM host_metrics WHERE host = "+warehouse.Quote(host), "TabSeparated"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 8*5*100, count(t, w, "SELECT count() FROM host_metrics WHERE host = "+warehouse.Quote(host)))
}
