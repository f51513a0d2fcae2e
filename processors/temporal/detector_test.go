package temporal

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/nab"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestWarmupAbstains(t *testing.T) {
	d := NewDetector(Config{Warmup: 10})
	for i := 0; i < 10; i++ {
		require.False(t, d.Update(t0.Add(time.Duration(i)*time.Second), 5).Warm, "point %d", i)
	}
	require.True(t, d.Update(t0.Add(10*time.Second), 5).Warm)
}

func TestSpikeScoresHighAndExplains(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	d := NewDetector(DefaultConfig())
	var maxNoise float64
	for i := 0; i < 2000; i++ {
		r := d.Update(t0.Add(time.Duration(i)*10*time.Second), 12+3*rng.NormFloat64())
		if r.Warm {
			maxNoise = math.Max(maxNoise, r.Score)
		}
	}
	r := d.Update(t0.Add(2000*10*time.Second), 94)
	require.True(t, r.Warm)
	require.Greater(t, r.Score, maxNoise)
	require.Greater(t, r.Score, 0.9)
	require.Greater(t, r.Z, 20.0)
	txt := r.Reason("cpu.user")
	require.True(t, strings.HasPrefix(txt, "cpu.user 94 is "), txt)
	require.Contains(t, txt, "robust σ above its")
	require.Contains(t, txt, "baseline 12")
}

// TestCalibratedAcrossScales: the same relative surprise scores the same on series of very
// different scale and noise, and a heavy-tailed series' ordinary spikes score lower than a
// Gaussian series' rare one.
func TestCalibratedAcrossScales(t *testing.T) {
	run := func(scale, level float64, heavy bool) (noiseMax, spike float64) {
		rng := rand.New(rand.NewPCG(7, 9))
		d := NewDetector(DefaultConfig())
		for i := 0; i < 3000; i++ {
			e := rng.NormFloat64()
			if heavy && rng.IntN(50) == 0 {
				e *= 12
			}
			r := d.Update(t0.Add(time.Duration(i)*time.Minute), level+scale*e)
			if r.Warm && i > 1000 {
				noiseMax = math.Max(noiseMax, r.Score)
			}
		}
		return noiseMax, d.Update(t0.Add(3000*time.Minute), level+scale*10).Score
	}
	_, a := run(1, 10, false)
	_, b := run(1e6, 5e9, false)
	require.InDelta(t, a, b, 0.02, "same surprise, same score")
	_, h := run(1, 10, true)
	require.Less(t, h, a, "a 10σ point is less surprising on a heavy-tailed series")
}

func TestDeterministicAndNaN(t *testing.T) {
	mk := func() []float64 {
		d := NewDetector(DefaultConfig())
		var out []float64
		for i := 0; i < 500; i++ {
			v := math.Sin(float64(i) / 10)
			if i == 250 {
				v = math.NaN()
			}
			out = append(out, d.Update(t0.Add(time.Duration(i)*time.Minute), v).Score)
		}
		return out
	}
	require.Equal(t, mk(), mk())
}

// BenchmarkDetector measures points per second through one series' detector on one core.
func BenchmarkDetector(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	vals := make([]float64, 4096)
	for i := range vals {
		vals[i] = 50 + 10*math.Sin(float64(i)/40) + rng.NormFloat64()
	}
	d := NewDetector(DefaultConfig())
	b.ReportAllocs()
	b.ResetTimer()
	cpu := nab.CPUTime()
	for i := 0; i < b.N; i++ {
		d.Update(t0.Add(time.Duration(i)*time.Minute), vals[i&4095])
	}
	used := nab.CPUTime() - cpu
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
	if used > 0 {
		// CPU time of the process over the loop: the work per core on a shared machine.
		b.ReportMetric(float64(b.N)/used.Seconds(), "points/cpu-s")
	}
}

func TestGaussSurpriseMatchesErfc(t *testing.T) {
	for z := 0.0; z < 37; z += 0.0137 {
		want := -math.Log10(math.Erfc(z / math.Sqrt2))
		require.InDelta(t, want, gaussSurprise(z), 1e-3*math.Max(1, want), "z=%v", z)
		require.Equal(t, gaussSurprise(z), gaussSurprise(-z))
	}
	for k := 0; k < nBins; k++ {
		require.Equal(t, k, histBin(binEdges[k]))
	}
}

// TestResolutionFloors: a constant integer series (threads) moving by one is mildly surprising,
// not infinitely; a constant zero leaving zero is explained as such.
func TestResolutionFloors(t *testing.T) {
	d := NewDetector(DefaultConfig())
	for i := 0; i < 100; i++ {
		d.Update(t0.Add(time.Duration(i)*time.Minute), 7)
	}
	r := d.Update(t0.Add(100*time.Minute), 8)
	require.InDelta(t, 2.0, r.Z, 1e-9)
	require.Less(t, r.Score, 0.5)

	z := NewDetector(DefaultConfig())
	for i := 0; i < 100; i++ {
		z.Update(t0.Add(time.Duration(i)*time.Minute), 0)
	}
	r = z.Update(t0.Add(100*time.Minute), 16.5)
	require.Greater(t, r.Score, 0.9)
	require.Contains(t, r.Reason("cpu_percent"), "cpu_percent 16.5 departs from its constant")
}

// TestCalibrationTreeMatchesDirectCount checks the Fenwick-tree histogram against a direct sum.
func TestCalibrationTreeMatchesDirectCount(t *testing.T) {
	d := NewDetector(DefaultConfig())
	d.prepare() // as Update does at the second point
	rng := rand.New(rand.NewPCG(3, 3))
	var bins [nBins]float64
	w := 1.0
	for i := 0; i < 5000; i++ {
		r := math.Abs(rng.NormFloat64()) * 10
		d.learnHist(r)
		w /= 1 - d.alphaC
		bins[histBin(r)] += w
		if w > 1e100 {
			for k := range bins {
				bins[k] /= w
			}
			w = 1
		}
	}
	for _, r := range []float64{0, 0.3, 1, 5, 20, 80, 500} {
		exceed := 0.0
		for k := histBin(r); k < nBins; k++ {
			exceed += bins[k]
		}
		want := (exceed/w + d.cfg.Prior*math.Pow(10, -r)) / (d.histTotal/d.histWeight + d.cfg.Prior)
		require.InDelta(t, want, d.calibrated(r), 1e-9*math.Max(1, want), "r=%v", r)
	}
}
