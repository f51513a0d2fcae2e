package iforest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/amoskys/amoskys/processors/window"
	"github.com/amoskys/amoskys/schemas"
)

// BenchmarkLayerJudge: Layer.Judge per feature vector (the processor's per-message work without
// the Benthos envelope): host windows scored and explained by a model, process windows of another
// key kind (abstain), and a layer without a model (abstain), as in the replay bench.
func BenchmarkLayerJudge(b *testing.B) {
	path := filepath.Join(b.TempDir(), "iforest.json")
	if err := trainHostModel(b, "bench").Save(path); err != nil {
		b.Fatal(err)
	}
	hosts := hostVectors(b, hostEvents(4, t0.Add(24*time.Hour), 60, map[int]bool{20: true}))
	proc := *hosts[0]
	proc.KeyKind, proc.Key, proc.Entity = window.KindProcess, "proc:1@2", "cron"
	for _, c := range []struct {
		name  string
		model string
		vs    []*schemas.FeatureVector
	}{
		{"scored", path, hosts},
		{"other_kind", path, []*schemas.FeatureVector{&proc}},
		{"no_model", filepath.Join(b.TempDir(), "absent.json"), hosts},
	} {
		b.Run(c.name, func(b *testing.B) {
			l := NewLayer(Config{ModelPath: c.model})
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				l.Judge(c.vs[i%len(c.vs)])
			}
		})
	}
}
