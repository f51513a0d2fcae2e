package replay

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkReplayDetect replays synthetic events through pipelines/detect.yaml (100k events per op,
// AMOSKYS_BENCH_EVENTS to change): go test -bench ReplayDetect -run ^$ ./internal/replay
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
	evs := Synthetic(n, 8, t0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Bench(b.Context(), pipeline, evs, BenchOptions{Batch: 5000}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(evs)*b.N)/b.Elapsed().Seconds(), "events/s")
}
