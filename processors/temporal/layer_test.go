package temporal

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/schemas"
)

func vec(host, key string, end time.Time, cpu, mem float64) *schemas.FeatureVector {
	return &schemas.FeatureVector{
		SchemaVersion: schemas.FeaturesVersion, ID: fmt.Sprintf("%s/%s/%d", host, key, end.Unix()),
		Host: host, KeyKind: "host", Key: key, Window: "10s", Start: end.Add(-10 * time.Second), End: end,
		Names: []string{"cpu.user", "mem.used_pct"}, Values: []float64{cpu, mem},
	}
}

func TestLayerWarmupSpikeAndReason(t *testing.T) {
	l := NewLayer(LayerConfig{Detector: Config{Warmup: 20}})
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 300; i++ {
		r := l.Judge(vec("h1", "host", t0.Add(time.Duration(i)*10*time.Second), 12+3*rng.NormFloat64(), 40+rng.NormFloat64()))
		if i < 20 {
			require.Nil(t, r.Score)
			require.Contains(t, r.Abstain, "warming up")
		} else {
			require.NotNil(t, r.Score)
		}
	}
	r := l.Judge(vec("h1", "host", t0.Add(300*10*time.Second), 94, 40))
	require.NotNil(t, r.Score)
	require.Greater(t, *r.Score, 0.9)
	require.Equal(t, schemas.LayerTemporal, r.Layer)
	require.Len(t, r.Reasons, 1)
	require.Equal(t, "temporal:cpu.user", r.Reasons[0].ID)
	require.Contains(t, r.Reasons[0].Text, "cpu.user 94 is")
	require.Equal(t, 2, l.Series())
}

func TestLayerCapEvicts(t *testing.T) {
	l := NewLayer(LayerConfig{MaxSeries: 4, Features: []string{"cpu.user"}})
	for i := 0; i < 10; i++ {
		l.Judge(vec(fmt.Sprintf("h%d", i), "host", t0, 1, 1))
	}
	require.Equal(t, 4, l.Series())
	require.Equal(t, uint64(6), l.Evicted)
}

func TestPluginAttachesLayer(t *testing.T) {
	conf, err := spec().ParseYAML("warmup_points: 5\nfeatures: [cpu.user]\n", nil)
	require.NoError(t, err)
	bp, err := newProcessor(conf, service.MockResources())
	require.NoError(t, err)
	var batch service.MessageBatch
	for i := 0; i < 40; i++ {
		v := 10.0 + float64(i%3)
		if i == 39 {
			v = 80
		}
		batch = append(batch, envelope.NewFeatures(vec("h", "host", t0.Add(time.Duration(i)*time.Second), v, 1)))
	}
	batch = append(batch, envelope.NewEvent(&schemas.TelemetryEvent{}))
	bad := service.NewMessage([]byte("{not json"))
	bad.MetaSetMut(envelope.MetaType, envelope.TypeFeatures)
	batch = append(batch, bad)
	out, err := bp.ProcessBatch(t.Context(), batch)
	require.NoError(t, err)
	require.Len(t, out[0], 42)
	first := envelope.Layers(out[0][0])
	require.Len(t, first, 1)
	require.Nil(t, first[0].Score)
	last := envelope.Layers(out[0][39])
	require.Len(t, last, 1)
	require.NotNil(t, last[0].Score)
	require.Greater(t, *last[0].Score, 0.5)
	require.Empty(t, envelope.Layers(out[0][40]), "telemetry passes untouched")
	require.Error(t, out[0][41].GetError())
	require.NoError(t, bp.Close(t.Context()))
}

// TestPopulationFloor: a process idle at exactly 0 CPU is not alarmed by a 0.5% blip when other
// processes show that CPU varies by whole percents, but a burn still is.
func TestPopulationFloor(t *testing.T) {
	l := NewLayer(LayerConfig{Detector: Config{Warmup: 10}, PopulationFloor: 0.5})
	rng := rand.New(rand.NewPCG(5, 6))
	pv := func(key string, end time.Time, cpu float64) *schemas.FeatureVector {
		return &schemas.FeatureVector{Host: "h", KeyKind: "process", Key: key, Entity: key, Window: "1m", End: end,
			Names: []string{"cpu_percent"}, Values: []float64{cpu}}
	}
	for i := 0; i < 100; i++ {
		end := t0.Add(time.Duration(i) * time.Minute)
		for k := 0; k < 5; k++ {
			l.Judge(pv(fmt.Sprintf("busy%d", k), end, 20+4*rng.NormFloat64()))
		}
		l.Judge(pv("idle", end, 0))
	}
	blip := l.Judge(pv("idle", t0.Add(100*time.Minute), 0.5))
	require.NotNil(t, blip.Score)
	require.Less(t, *blip.Score, 0.5, "blip: %+v", blip.Reasons)
	burn := l.Judge(pv("idle", t0.Add(101*time.Minute), 80))
	require.Greater(t, *burn.Score, 0.9)
	require.Contains(t, burn.Reasons[0].Text, "nearly constant")
}

func TestPluginRejectsBadConfig(t *testing.T) {
	for _, y := range []string{"reason_threshold: 2", "warmup_points: 0", "max_series: 0", "horizon_points: 1", "population_floor: -1", "population_z: -1", "population_windows: -1", "population_min: -1"} {
		conf, err := spec().ParseYAML(y, nil)
		require.NoError(t, err, y)
		_, err = newProcessor(conf, service.MockResources())
		require.Error(t, err, y)
	}
}

// TestDeterministicAcrossBatches: the same vectors give the same layer results whatever the
// batch boundaries.
func TestDeterministicAcrossBatches(t *testing.T) {
	run := func(batchSize int) []float64 {
		conf, err := spec().ParseYAML("warmup_points: 5", nil)
		require.NoError(t, err)
		bp, err := newProcessor(conf, service.MockResources())
		require.NoError(t, err)
		rng := rand.New(rand.NewPCG(11, 12))
		var msgs service.MessageBatch
		for i := 0; i < 200; i++ {
			end := t0.Add(time.Duration(i) * time.Minute)
			for _, h := range []string{"a", "b"} {
				msgs = append(msgs, envelope.NewFeatures(vec(h, "host", end, 10+rng.NormFloat64()+float64(i/150)*30, 50)))
			}
		}
		var out []float64
		for i := 0; i < len(msgs); i += batchSize {
			res, err := bp.ProcessBatch(t.Context(), msgs[i:min(i+batchSize, len(msgs))])
			require.NoError(t, err)
			for _, m := range res[0] {
				l := envelope.Layers(m)
				require.Len(t, l, 1)
				s := -1.0
				if l[0].Score != nil {
					s = *l[0].Score
				}
				out = append(out, s)
			}
		}
		return out
	}
	one := run(400)
	require.Equal(t, one, run(1))
	require.Equal(t, one, run(7))
}

// A fresh series writes only its entry's first cache line: everything but the detector fits in
// 64 bytes, and the entry stays in the 512-byte size class (so that line is the first).
func TestEntryLayout(t *testing.T) {
	if off := unsafe.Offsetof(entry{}.det); off != 64 {
		t.Fatalf("the detector starts at byte %d of an entry, want 64", off)
	}
	if n := unsafe.Sizeof(entry{}); n > 512 || n <= 256 {
		t.Fatalf("an entry is %d bytes, want 257..512", n)
	}
}

// A new series' first point kept in its entry (as Unix seconds and nanoseconds) scores exactly as
// the detector's own path, which vector ends with a monotonic clock reading take: the same
// streams with both kinds of ends give the same results, with keys churning through the cap.
func TestFreshSeriesMatchDetectorPath(t *testing.T) {
	streams := map[string][]*schemas.FeatureVector{
		"replay": replayVectors(60000), // new process keys every second, mostly one vector each
		"quiet":  benchVectors(80),     // a host scored from its 32nd window, processes living 20
		"churn":  churnVectors(40),     // processes living two windows, 8 hosts
	}
	now := time.Now() // carries a monotonic reading, as do times derived from it with Add
	total := 0
	for name, vs := range streams {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultLayerConfig()
			cfg.MaxSeries = 700
			plain, mono := NewLayer(cfg), NewLayer(cfg)
			scored := 0
			for i, v := range vs {
				m := *v
				m.End = now.Add(v.End.Sub(now))
				require.NotEqual(t, m.End, m.End.Round(0), "the copy's end has a monotonic reading")
				a, b := plain.Judge(v), mono.Judge(&m)
				b.Time = b.Time.UTC() // the same instant; UTC drops the monotonic reading and the local zone
				require.Equal(t, a, b, "vector %d", i)
				if a.Score != nil {
					scored++
				}
			}
			require.Equal(t, plain.Evicted, mono.Evicted)
			require.Greater(t, plain.Evicted, uint64(0), "keys churn through the cap")
			// And every series ends in the same state, the fresh ones once set up.
			require.Equal(t, len(plain.groups), len(mono.groups))
			for key, g := range plain.groups {
				h := mono.groups[key]
				require.NotNil(t, h, key)
				for j, e := range g.els {
					if e == nil {
						require.Nil(t, h.els[j])
						continue
					}
					f := h.els[j]
					plain.materialize(e)
					mono.materialize(f)
					a, b := e.det, f.det
					a.lastT, b.lastT = a.lastT.Round(0).UTC(), b.lastT.Round(0).UTC()
					require.Equal(t, a, b, "%q %s", key, e.name)
				}
			}
			total += scored
		})
	}
	require.Greater(t, total, 0, "some vectors are scored")
}
