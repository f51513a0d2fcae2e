package temporal

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/amoskys/amoskys/internal/nab"
	"github.com/amoskys/amoskys/processors/window"
	"github.com/amoskys/amoskys/schemas"
)

// benchVectors is what the default window stage emits on a quiet host: per one-minute window, one
// host vector and 40 process vectors; a process lives 20 windows, so keys come and go (new keys
// warm up, old ones are evicted by the cap).
func benchVectors(windows int) []*schemas.FeatureVector {
	rng := rand.New(rand.NewPCG(5, 6))
	hn, pn := window.FeatureNames(window.KindHost), window.FeatureNames(window.KindProcess)
	var out []*schemas.FeatureVector
	for w := 0; w < windows; w++ {
		end := t0.Add(time.Duration(w+1) * time.Minute)
		hv := make([]float64, len(hn))
		for i := range hv {
			hv[i] = 10 + 3*rng.NormFloat64()
		}
		out = append(out, &schemas.FeatureVector{Host: "h", KeyKind: window.KindHost, Key: "host", Window: "1m",
			Start: end.Add(-time.Minute), End: end, Names: hn, Values: hv})
		for p := 0; p < 40; p++ {
			pid := p + 40*((w+p)/20)
			pv := make([]float64, len(pn))
			for i := range pv {
				pv[i] = float64(p%7) * (1 + 0.1*rng.NormFloat64())
			}
			out = append(out, &schemas.FeatureVector{Host: "h", KeyKind: window.KindProcess,
				Key: "proc:" + strconv.Itoa(pid) + "@1700000000", Entity: "p" + strconv.Itoa(p%9), Window: "1m",
				Start: end.Add(-time.Minute), End: end, Names: pn, Values: pv})
		}
	}
	return out
}

// BenchmarkLayerJudge measures feature vectors per second through Layer.Judge (the processor's
// per-message work without the Benthos envelope).
func BenchmarkLayerJudge(b *testing.B) {
	vs := benchVectors(400)
	l := NewLayer(DefaultLayerConfig())
	for _, v := range vs[:len(vs)/2] { // warm: populations and most series exist
		l.Judge(v)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := nab.CPUTime()
	for i := 0; i < b.N; i++ {
		l.Judge(vs[i%len(vs)])
	}
	used := nab.CPUTime() - cpu
	if used > 0 {
		b.ReportMetric(float64(b.N)/used.Seconds(), "vectors/cpu-s")
	}
}

// churnVectors is the replay bench's shape (internal/replay.Synthetic): keys churn, most process
// keys live one or two windows, so most of a vector's series are new (or recycled at the cap).
func churnVectors(windows int) []*schemas.FeatureVector {
	rng := rand.New(rand.NewPCG(7, 8))
	hn, pn := window.FeatureNames(window.KindHost), window.FeatureNames(window.KindProcess)
	var out []*schemas.FeatureVector
	for w := 0; w < windows; w++ {
		end := t0.Add(time.Duration(w+1) * time.Minute)
		for h := 0; h < 8; h++ {
			host := "h" + strconv.Itoa(h)
			hv := make([]float64, len(hn))
			for i := range hv {
				hv[i] = 10 + 3*rng.NormFloat64()
			}
			out = append(out, &schemas.FeatureVector{Host: host, KeyKind: window.KindHost, Key: "host", Window: "1m",
				Start: end.Add(-time.Minute), End: end, Names: hn, Values: hv})
			for p := 0; p < 60; p++ {
				pid := p + 60*((w+p%2)/2) // each process lives two windows
				pv := make([]float64, len(pn))
				for i := range pv {
					pv[i] = float64(p%7) * (1 + 0.1*rng.NormFloat64())
				}
				out = append(out, &schemas.FeatureVector{Host: host, KeyKind: window.KindProcess,
					Key: "proc:" + strconv.Itoa(pid) + "@1700000000", Entity: "p" + strconv.Itoa(p%9), Window: "1m",
					Start: end.Add(-time.Minute), End: end, Names: pn, Values: pv})
			}
		}
	}
	return out
}

// BenchmarkLayerJudgeChurn: vectors per second when keys churn (every process a new key, the
// series cap reached, so new series recycle evicted detectors), as in the replay bench.
func BenchmarkLayerJudgeChurn(b *testing.B) {
	vs := churnVectors(200)
	l := NewLayer(DefaultLayerConfig())
	for _, v := range vs[:len(vs)/2] {
		l.Judge(v)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := nab.CPUTime()
	var paused time.Duration
	for i := 0; i < b.N; i++ {
		if i > 0 && i%(len(vs)/2) == 0 { // a new pass: later event times, so no key comes back
			b.StopTimer()
			p := nab.CPUTime()
			for _, v := range vs {
				v.Start, v.End = v.Start.Add(24*time.Hour), v.End.Add(24*time.Hour)
				v.Key += "'"
			}
			paused += nab.CPUTime() - p
			b.StartTimer()
		}
		l.Judge(vs[len(vs)/2+i%(len(vs)/2)])
	}
	used := nab.CPUTime() - cpu - paused
	if used > 0 {
		b.ReportMetric(float64(b.N)/used.Seconds(), "vectors/cpu-s")
	}
}
