package replay

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkReplayDetect replays synthetic events through pipelines/detect.yaml (100k events per op,
// AMOSKYS_BENCH_EVENTS to change; batches of 5000, AMOSKYS_BENCH_BATCH): go test -bench ReplayDetect -run ^$ ./internal/replay
func BenchmarkReplayDetect(b *testing.B) {
	benchPipeline(b, filepath.Join("..", "..", "pipelines", "detect.yaml"))
}

// BenchmarkReplayNoop is the same with as many Benthos noop stages as detect.yaml has processors.
func BenchmarkReplayNoop(b *testing.B) {
	p, err := NoopPipeline(b.TempDir(), 6, "noop")
	if err != nil {
		b.Fatal(err)
	}
	benchPipeline(b, p)
}

// BenchmarkReplayPluginNoop is the same with pass-through stages on the public plugin API.
func BenchmarkReplayPluginNoop(b *testing.B) {
	p, err := NoopPipeline(b.TempDir(), 6, PluginNoop)
	if err != nil {
		b.Fatal(err)
	}
	benchPipeline(b, p)
}

func benchPipeline(b *testing.B, pipeline string) {
	if _, err := os.Stat(pipeline); err != nil {
		b.Skip(err)
	}
	b.Setenv("AMOSKYS_RULES_DIR", filepath.Join("..", "..", "rules"))
	b.Setenv("AMOSKYS_MODELS_DIR", b.TempDir())
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("AMOSKYS_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	batch := 5000
	if v, err := strconv.Atoi(os.Getenv("AMOSKYS_BENCH_BATCH")); err == nil && v > 0 {
		batch = v
	}
	evs := Synthetic(n, 8, t0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Bench(b.Context(), pipeline, evs, BenchOptions{Batch: batch}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(evs)*b.N)/b.Elapsed().Seconds(), "events/s")
}

// The per-stage pipelines keep the stage count: prefix k has the first k processors, then
// pass-through stages, and each of them runs.
func TestPrefixPipelines(t *testing.T) {
	dir := t.TempDir()
	paths, labels, err := PrefixPipelines(dir, "testdata/window_alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"window", "switch"}; !slices.Equal(labels, want) {
		t.Fatalf("labels %v, want %v", labels, want)
	}
	if len(paths) != 3 {
		t.Fatalf("%d prefixes, want 3", len(paths))
	}
	evs := events(150, []string{"h1", "h2"})
	alerts := make([]int, len(paths))
	for k, p := range paths {
		n, err := PipelineStages(p)
		if err != nil || n != 2 {
			t.Fatalf("prefix %d: %d stages, %v", k, n, err)
		}
		r, err := Bench(t.Context(), p, evs, BenchOptions{Batch: 64})
		if err != nil {
			t.Fatal(err)
		}
		if r.Events != int64(len(evs)) {
			t.Fatalf("prefix %d: %d events", k, r.Events)
		}
		alerts[k] = r.Alerts
	}
	// Only the whole pipeline turns the window's vectors into alerts (10:00 and 10:01 of each
	// host; the data ends inside 10:02).
	if !slices.Equal(alerts, []int{0, 0, 4}) {
		t.Fatalf("alerts per prefix %v", alerts)
	}
}

// The paired ratio is computed round by round, and the spread's median is the middle value (or
// the mean of the two middle ones).
func TestPairedRatiosAndSpread(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	r := PairedRatios(ms(6, 9, 5), ms(3, 3, 4))
	if want := []float64{1, 2, 0.25}; !slices.Equal(r, want) {
		t.Fatalf("ratios %v, want %v", r, want)
	}
	if lo, med, hi := Spread(r); lo != 0.25 || med != 1 || hi != 2 {
		t.Fatalf("spread %v %v %v", lo, med, hi)
	}
	if _, med, _ := Spread([]float64{4, 1, 2, 3}); med != 2.5 {
		t.Fatalf("even median %v", med)
	}
	if r := PairedRatios(ms(5), ms(0)); len(r) != 0 {
		t.Fatalf("a round with no framework time gives %v", r)
	}
}
