package alert

import (
	"fmt"
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/processors/fuse"
	"github.com/amoskys/amoskys/schemas"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func fused(id, host, entity string, at time.Time, score float64, sev schemas.Severity, rule string) *schemas.AlertEvent {
	s := score
	return &schemas.AlertEvent{ID: id, Time: at, Host: host, Entity: entity, Score: score, Severity: sev, Count: 1,
		FirstSeen: at, LastSeen: at, Status: schemas.StatusOpen, EvidenceIDs: []string{"ev-" + id},
		Layers: []schemas.LayerBreakdown{{Layer: "geometric", Score: &s, Weight: 1, Contribution: score,
			Reasons: []schemas.Reason{{ID: rule, Title: rule, Tags: []string{"attack.t1059"}}}}}}
}

func TestDedupRepeatsRaiseCount(t *testing.T) {
	a, err := New(Config{UpdateInterval: time.Nanosecond})
	require.NoError(t, err)
	first, o := a.Process(fused("f1", "h1", "/bin/sh", t0, 0.8, schemas.SeverityHigh, "shell_under_web"))
	require.Equal(t, OutcomeNew, o)
	require.EqualValues(t, 1, first.Count)
	// the same rule on another process instance of the same executable: a repeat
	second, o := a.Process(fused("f2", "h1", "/bin/sh", t0.Add(time.Minute), 0.8, schemas.SeverityHigh, "shell_under_web"))
	require.Equal(t, OutcomeUpdated, o)
	require.Equal(t, first.ID, second.ID)
	require.EqualValues(t, 2, second.Count)
	require.Equal(t, t0, second.FirstSeen)
	require.Equal(t, t0.Add(time.Minute), second.LastSeen)
	require.Equal(t, []string{"ev-f1", "ev-f2"}, second.EvidenceIDs)
	require.Greater(t, second.Version, first.Version)
	// another cause, host or entity is another alert
	for _, in := range []*schemas.AlertEvent{
		fused("f3", "h1", "/bin/sh", t0.Add(2*time.Minute), 0.8, schemas.SeverityHigh, "other_rule"),
		fused("f4", "h2", "/bin/sh", t0.Add(2*time.Minute), 0.8, schemas.SeverityHigh, "shell_under_web"),
		fused("f5", "h1", "/bin/bash", t0.Add(2*time.Minute), 0.8, schemas.SeverityHigh, "shell_under_web"),
	} {
		out, o := a.Process(in)
		require.Equal(t, OutcomeNew, o, in.ID)
		require.Equal(t, in.ID, out.ID)
	}
	// after the dedup window a repeat opens a new alert
	late, o := a.Process(fused("f6", "h1", "/bin/sh", t0.Add(3*time.Hour), 0.8, schemas.SeverityHigh, "shell_under_web"))
	require.Equal(t, OutcomeNew, o)
	require.Equal(t, "f6", late.ID)
}

func TestRescoreOfMemberUpdatesAlert(t *testing.T) {
	a, err := New(Config{UpdateInterval: 10 * time.Second})
	require.NoError(t, err)
	_, o := a.Process(fused("f1", "h1", "/tmp/x", t0, 0.5, schemas.SeverityMedium, "exe_in_tmp"))
	require.Equal(t, OutcomeNew, o)
	up := fused("f1", "h1", "/tmp/x", t0.Add(time.Second), 0.9, schemas.SeverityCritical, "exe_in_tmp")
	up.History = []schemas.ScoreChange{{Time: t0, Score: 0.5}, {Time: t0.Add(time.Second), Score: 0.9, Layer: "temporal"}}
	out, o := a.Process(up)
	require.Equal(t, OutcomeUpdated, o, "a score change is emitted at once")
	require.Equal(t, schemas.SeverityCritical, out.Severity)
	require.EqualValues(t, 1, out.Count, "a re-score is no repeat")
	require.Len(t, out.History, 2)
	// a count-only repeat within update_interval is folded, then shows in the next update
	_, o = a.Process(fused("f2", "h1", "/tmp/x", t0.Add(2*time.Second), 0.5, schemas.SeverityMedium, "exe_in_tmp"))
	require.Equal(t, OutcomeFolded, o)
	out, o = a.Process(fused("f3", "h1", "/tmp/x", t0.Add(20*time.Second), 0.5, schemas.SeverityMedium, "exe_in_tmp"))
	require.Equal(t, OutcomeUpdated, o)
	require.EqualValues(t, 3, out.Count)
	require.Equal(t, schemas.SeverityCritical, out.Severity, "a weaker repeat keeps the stronger content")

	// a folded repeat with nothing after it is flushed once event time passes update_interval
	_, o = a.Process(fused("f4", "h1", "/tmp/x", t0.Add(21*time.Second), 0.5, schemas.SeverityMedium, "exe_in_tmp"))
	require.Equal(t, OutcomeFolded, o)
	require.Empty(t, a.Flush())
	_, o = a.Process(fused("o1", "h9", "/bin/other", t0.Add(40*time.Second), 0.5, schemas.SeverityMedium, "other"))
	require.Equal(t, OutcomeNew, o)
	flushed := a.Flush()
	require.Len(t, flushed, 1)
	require.EqualValues(t, 4, flushed[0].Count)
	require.Greater(t, flushed[0].Version, out.Version)
	require.Empty(t, a.Flush())
}

func TestStatusSurvivesUpdatesAndResolveReopens(t *testing.T) {
	a, err := New(Config{UpdateInterval: time.Nanosecond})
	require.NoError(t, err)
	first, _ := a.Process(fused("f1", "h1", "/bin/nc", t0, 0.8, schemas.SeverityHigh, "revshell"))
	_, ok := a.SetStatus(first.ID, schemas.StatusAcknowledged, "ana", t0.Add(time.Minute), first.Version+1)
	require.True(t, ok)
	out, _ := a.Process(fused("f2", "h1", "/bin/nc", t0.Add(2*time.Minute), 0.8, schemas.SeverityHigh, "revshell"))
	require.Equal(t, schemas.StatusAcknowledged, out.Status)
	require.Equal(t, "ana", out.StatusBy)
	require.Greater(t, out.Version, first.Version+1)
	a.SetStatus(first.ID, schemas.StatusResolved, "ana", t0.Add(3*time.Minute), 0)
	out, o := a.Process(fused("f3", "h1", "/bin/nc", t0.Add(4*time.Minute), 0.8, schemas.SeverityHigh, "revshell"))
	require.Equal(t, OutcomeNew, o, "a repeat after resolution is a new alert")
	require.Equal(t, schemas.StatusOpen, out.Status)
}

func TestExceptions(t *testing.T) {
	a, err := New(Config{MinSeverity: schemas.SeverityMedium, Exceptions: []Exception{
		{Name: "backup", Entity: regexp.MustCompile(`^/usr/bin/pg_dump$`), BelowSeverity: schemas.SeverityHigh},
		{Name: "lab host", Host: "lab1"},
		{Name: "noisy rule", RuleID: "noisy"},
	}})
	require.NoError(t, err)
	cases := []struct {
		in   *schemas.AlertEvent
		want Outcome
	}{
		{fused("a", "h1", "/usr/bin/pg_dump", t0, 0.6, schemas.SeverityMedium, "r"), OutcomeSuppressed},
		{fused("b", "h1", "/usr/bin/pg_dump", t0, 0.95, schemas.SeverityCritical, "r"), OutcomeNew},
		{fused("c", "lab1", "/bin/sh", t0, 0.95, schemas.SeverityCritical, "r"), OutcomeSuppressed},
		{fused("d", "h1", "/bin/sh", t0, 0.95, schemas.SeverityCritical, "noisy"), OutcomeSuppressed},
		{fused("e", "h1", "/bin/sh", t0, 0.35, schemas.SeverityLow, "r"), OutcomeBelowMin},
		{&schemas.AlertEvent{ID: "", Host: "h"}, OutcomeInvalid},
	}
	for _, c := range cases {
		_, o := a.Process(c.in)
		require.Equal(t, c.want, o, c.in.ID)
	}
	_, err = New(Config{Exceptions: []Exception{{Name: "all"}}})
	require.ErrorContains(t, err, "matches every alert")
	_, err = New(Config{MinSeverity: "SEVERE"})
	require.ErrorContains(t, err, "min_severity")
}

// soak drives n inputs through fuse and alert with many distinct entities and returns the live
// heap after GC at checkpoints.
func soak(t testing.TB, n int, checkpoints ...int) []uint64 {
	f, err := fuse.New(fuse.Config{MaxOpen: 5000, OpenFor: time.Minute})
	require.NoError(t, err)
	a, err := New(Config{MaxAlerts: 5000, DedupWindow: 10 * time.Minute})
	require.NoError(t, err)
	var heaps []uint64
	ci := 0
	emitted := 0
	for i := range n {
		score := 0.3 + float64(i%7)/10
		in := fuse.Input{Time: t0.Add(time.Duration(i) * 10 * time.Millisecond), Host: fmt.Sprintf("h%d", i%50),
			EntityKey: fmt.Sprintf("proc:%d@1", i%100000), Entity: fmt.Sprintf("/usr/bin/p%d", i%5000), EntityKind: "process",
			EvidenceIDs: []string{fmt.Sprintf("e%d", i)},
			Layers: []schemas.LayerResult{{Layer: []string{"geometric", "temporal", "iforest"}[i%3], Score: &score,
				Reasons: []schemas.Reason{{ID: fmt.Sprintf("r%d", i%40), Score: score, Text: "reason"}}}}}
		if fa, ok := f.Process(in); ok {
			if out, _ := a.Process(fa); out != nil {
				emitted++
			}
		}
		if ci < len(checkpoints) && i+1 == checkpoints[ci] {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heaps = append(heaps, ms.HeapAlloc)
			ci++
		}
	}
	require.Positive(t, emitted)
	require.LessOrEqual(t, f.Open(), 5000)
	require.LessOrEqual(t, a.Held(), 5000)
	return heaps
}

func TestSoakFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: skipped with -short")
	}
	n := 60000
	heaps := soak(t, n, n/3, n)
	t.Logf("heap after %d: %d KiB, after %d: %d KiB", n/3, heaps[0]>>10, n, heaps[1]>>10)
	// state is capped: tripling the inputs must not grow the live heap by more than half
	require.Less(t, float64(heaps[1]), 1.5*float64(heaps[0]))
}

// BenchmarkSoak1M is the soak of docs/benchmarks/alerts.md: 1M inputs through fuse and alert.
func BenchmarkSoak1M(b *testing.B) {
	for b.Loop() {
		heaps := soak(b, 1000000, 100000, 1000000)
		b.ReportMetric(float64(heaps[0])/(1<<20), "heapMiB@100k")
		b.ReportMetric(float64(heaps[1])/(1<<20), "heapMiB@1M")
	}
}
