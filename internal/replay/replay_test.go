package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/clickhouse"
	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/schemas"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// events makes n process_exec events over hosts, every 7th an nc (root when pid%2==0), written to
// JSONL files in a shuffled storage order so replay must sort them.
func events(n int, hosts []string) []*schemas.TelemetryEvent {
	out := make([]*schemas.TelemetryEvent, n)
	for i := range out {
		name := "bash"
		if i%7 == 0 {
			name = "nc"
		}
		pid := int32(1000 + i)
		out[i] = &schemas.TelemetryEvent{SchemaVersion: 1, ID: fmt.Sprintf("ev-%06d", i), Kind: schemas.KindProcessExec,
			Time: t0.Add(time.Duration(i) * time.Second), Host: hosts[i%len(hosts)], Source: "process",
			Process: &schemas.Process{PID: pid, PPID: 1, StartTime: t0, Name: name, UID: uint32(1000 * (i % 2))}}
	}
	return out
}

func writeJSONL(t *testing.T, evs []*schemas.TelemetryEvent, files int) []string {
	dir := t.TempDir()
	var bufs = make([]bytes.Buffer, files)
	// Reverse order, split round-robin: nothing is sorted on disk.
	for i := len(evs) - 1; i >= 0; i-- {
		b, err := json.Marshal(evs[i])
		require.NoError(t, err)
		bufs[i%files].Write(append(b, '\n'))
	}
	var paths []string
	for i := range bufs {
		p := filepath.Join(dir, fmt.Sprintf("part%d.jsonl", i))
		require.NoError(t, os.WriteFile(p, bufs[i].Bytes(), 0o600))
		paths = append(paths, p)
	}
	return paths
}

func replayJSONL(t *testing.T, files []string, pipeline string, from, to time.Time, hosts []string) *Result {
	t.Helper()
	src, err := JSONLSource(files, from, to, hosts)
	require.NoError(t, err)
	res, err := Run(t.Context(), Options{Pipeline: pipeline, Source: src, From: from, To: to, Hosts: hosts, BatchSize: 97, JSON: true})
	require.NoError(t, err)
	return res
}

func TestReplayDeterministic(t *testing.T) {
	files := writeJSONL(t, events(700, []string{"h1", "h2", "h3"}), 3)
	a := replayJSONL(t, files, "testdata/netcat.yaml", time.Time{}, time.Time{}, nil)
	b := replayJSONL(t, files, "testdata/netcat.yaml", time.Time{}, time.Time{}, nil)
	require.EqualValues(t, 700, a.Events)
	require.Len(t, a.Alerts, 100) // i%7 == 0 for i < 700
	require.NotEqual(t, a.RunID, b.RunID)
	ja, jb := alertsJSON(t, a.Alerts), alertsJSON(t, b.Alerts)
	require.Equal(t, ja, jb, "two replays of the same data and pipeline give identical alerts")
	for _, x := range a.Alerts {
		require.Equal(t, a.RunID, x.RunID)
	}
}

func alertsJSON(t *testing.T, as []*schemas.AlertEvent) string {
	cp := make([]schemas.AlertEvent, len(as))
	for i, a := range as {
		cp[i] = *a
		cp[i].RunID = ""
	}
	b, err := json.Marshal(cp)
	require.NoError(t, err)
	return string(b)
}

func TestReplayWindowAndHosts(t *testing.T) {
	files := writeJSONL(t, events(700, []string{"h1", "h2"}), 2)
	from, to := t0.Add(70*time.Second), t0.Add(140*time.Second)
	res := replayJSONL(t, files, "testdata/netcat.yaml", from, to, []string{"h1"})
	require.EqualValues(t, 35, res.Events) // seconds 70..139, even i only (h1)
	for _, a := range res.Alerts {
		require.Equal(t, "h1", a.Host)
		require.False(t, a.Time.Before(from) || !a.Time.Before(to))
	}
	require.Len(t, res.Alerts, 5) // i in [70,140), even, i%7==0: 70, 84, 98, 112, 126
}

// editedPipeline writes a copy of netcat.yaml with replacements applied.
func editedPipeline(t *testing.T, repl ...string) string {
	b, err := os.ReadFile("testdata/netcat.yaml")
	require.NoError(t, err)
	s := strings.NewReplacer(repl...).Replace(string(b))
	require.NotEqual(t, string(b), s, "the edit changed nothing")
	p := filepath.Join(t.TempDir(), "edited.yaml")
	require.NoError(t, os.WriteFile(p, []byte(s), 0o600))
	return p
}

func TestDiffOfEditedRule(t *testing.T) {
	files := writeJSONL(t, events(140, []string{"h1"}), 1)
	base := replayJSONL(t, files, "testdata/netcat.yaml", time.Time{}, time.Time{}, nil)
	// The edit: nc run by uid 1000 no longer alerts; root nc scores higher.
	edited := editedPipeline(t,
		`this.process.name == "nc" {`, `this.process.name == "nc" && this.process.uid == 0 {`,
		`{ 0.9 } else { 0.6 }`, `{ 0.95 } else { 0.6 }`)
	after := replayJSONL(t, files, edited, time.Time{}, time.Time{}, nil)
	d := Compare(base.RunID, Summaries(base.Alerts), Summaries(after.Alerts))
	// i%7==0 below 140: 20 alerts, 10 with even i (uid 0), 10 with odd i (uid 1000).
	require.Empty(t, d.Added)
	require.Len(t, d.Removed, 10)
	require.Len(t, d.Rescored, 10)
	require.Zero(t, d.Unchanged)
	for _, s := range d.Removed {
		require.Equal(t, schemas.SeverityMedium, s.Severity)
	}
	for _, c := range d.Rescored {
		require.InDelta(t, 0.05, c.ScoreDelta, 1e-9)
	}
	var out bytes.Buffer
	d.Print(&out, after.RunID)
	require.Contains(t, out.String(), "0 added, 10 removed, 10 re-scored, 0 unchanged")
}

func TestPipelineYAMLReplacesIO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "p.yaml")
	require.NoError(t, os.WriteFile(p, []byte("input: {generate: {mapping: 'root = 1'}}\npipeline: {threads: 4, processors: [{mapping: 'root = this'}]}\noutput: {drop: {}}\n"), 0o600))
	s, err := pipelineYAML(p)
	require.NoError(t, err)
	require.NotContains(t, s, "generate")
	require.NotContains(t, s, "drop")
	require.Contains(t, s, "threads: 1")
}

// TestReplayWarehouse replays telemetry stored in chDB, writes alerts_replay and replay_runs, and
// diffs two runs read back from the warehouse.
func TestReplayWarehouse(t *testing.T) {
	w := openCHDB(t)
	ctx := t.Context()
	host := fmt.Sprintf("replay-test-%d", time.Now().UnixNano())
	require.NoError(t, warehouse.InsertTelemetry(ctx, w, events(140, []string{host})))
	from, to := t0, t0.Add(time.Hour)
	a, err := Run(ctx, Options{Pipeline: "testdata/netcat.yaml", JSON: true, Warehouse: w, From: from, To: to, Hosts: []string{host}})
	require.NoError(t, err)
	require.EqualValues(t, 140, a.Events)
	require.Len(t, a.Alerts, 20)
	edited := editedPipeline(t, `this.process.name == "nc" {`, `this.process.name == "nc" && this.process.uid == 0 {`)
	b, err := Run(ctx, Options{Pipeline: edited, JSON: true, Warehouse: w, From: from, To: to, Hosts: []string{host}})
	require.NoError(t, err)

	ra, err := RunAlerts(ctx, w, a.RunID)
	require.NoError(t, err)
	require.Len(t, ra, 20, "alerts_replay holds run a")
	rb, err := RunAlerts(ctx, w, b.RunID)
	require.NoError(t, err)
	d := Compare(a.RunID, ra, rb)
	require.Len(t, d.Removed, 10)
	require.Empty(t, d.Added)
	require.Equal(t, 10, d.Unchanged)

	live, err := LiveAlerts(ctx, w, from, to, []string{host})
	require.NoError(t, err)
	require.Empty(t, live, "replay never writes the live alerts table")
	out, err := w.Query(ctx, "SELECT status, events, alerts FROM replay_runs FINAL WHERE run_id = "+warehouse.Quote(a.RunID), "TabSeparated")
	require.NoError(t, err)
	require.Equal(t, "done\t140\t20\n", string(out))
}

var chdbDirs = map[warehouse.Warehouse]string{}

func chdbDir(t *testing.T, w warehouse.Warehouse) string { return chdbDirs[w] }

func openCHDB(t *testing.T) warehouse.Warehouse {
	t.Helper()
	dir := t.TempDir()
	w, err := warehouse.Open(context.Background(), "chdb://"+dir)
	if errors.Is(err, warehouse.ErrLibraryMissing) && os.Getenv("AMOSKYS_REQUIRE_DEPS") != "1" {
		t.Skipf("libchdb missing: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	require.NoError(t, warehouse.Migrate(context.Background(), w, clickhouse.Migrations(), warehouse.WithRetentionDays(3650)))
	chdbDirs[w] = dir
	return w
}

// The replay ends its input with the end-of-input control message, which carries the end of
// the replayed range (--to): the window stage closes the windows that range holds, so the last
// minute of a range is judged like the others; without a range end, a minute the data cuts short
// stays open (judged on part of its length, it would look like an anomaly).
func TestReplayJudgesLastWindows(t *testing.T) {
	evs := events(150, []string{"h1", "h2"}) // 10:00:00 .. 10:02:29
	perHost := func(to time.Time, batch int) (map[string]int, string) {
		res, err := Run(t.Context(), Options{Pipeline: "testdata/window_alerts.yaml", Source: &sliceSource{evs: evs}, To: to, BatchSize: batch})
		require.NoError(t, err)
		n := map[string]int{}
		for _, a := range res.Alerts {
			n[a.Host]++
		}
		return n, alertsJSON(t, res.Alerts)
	}
	n, a := perHost(t0.Add(3*time.Minute), 40)
	require.Equal(t, map[string]int{"h1": 3, "h2": 3}, n, "the windows of 10:00, 10:01 and 10:02 of each host")
	_, b := perHost(t0.Add(3*time.Minute), 7)
	require.Equal(t, a, b, "whatever the batch size")
	n, _ = perHost(time.Time{}, 40)
	require.Equal(t, map[string]int{"h1": 2, "h2": 2}, n, "10:02 is cut short by the data's end")
}
