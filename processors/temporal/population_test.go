package temporal

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/schemas"
)

// procVec is a one-minute process vector ending at end.
func procVec(key string, end time.Time, cpu, rss float64) *schemas.FeatureVector {
	return &schemas.FeatureVector{Host: "h", KeyKind: "process", Key: key, Entity: "name-" + key, Window: "1m",
		Start: end.Add(-time.Minute), End: end, Names: []string{"cpu_percent", "rss_bytes", "child_exec_count"},
		Values: []float64{cpu, rss, 0}}
}

// idleHost feeds 40 long-lived processes at 0-2% CPU for windows minutes and returns the layer.
func idleHost(t *testing.T, cfg LayerConfig, windows int) (*Layer, *rand.Rand) {
	t.Helper()
	l := NewLayer(cfg)
	rng := rand.New(rand.NewPCG(21, 22))
	for w := 0; w < windows; w++ {
		feedIdle(l, rng, t0.Add(time.Duration(w+1)*time.Minute))
	}
	return l, rng
}

func feedIdle(l *Layer, rng *rand.Rand, end time.Time) {
	for k := 0; k < 40; k++ {
		cpu := max(0, 0.3+0.3*rng.NormFloat64())
		if k%10 == 0 {
			cpu = 2 + rng.Float64()
		}
		l.Judge(procVec(fmt.Sprintf("proc:%d@1", k), end, cpu, float64(1+k%5)*20e6))
	}
}

// A process started a minute ago that burns a core is scored against the other processes of
// the host before its own warm-up, once it has been above them for two consecutive windows.
func TestPopulationPriorFlagsNewBurner(t *testing.T) {
	l, rng := idleHost(t, DefaultLayerConfig(), 3)
	end := t0.Add(4 * time.Minute)
	feedIdle(l, rng, end)
	first := l.Judge(procVec("proc:999@200", end, 61, 1e6)) // started 20 s before the window's end
	require.Nil(t, first.Score)
	require.Equal(t, "warming up: 1 of 31 points; above its population for 1 of 2 windows", first.Abstain)

	end = end.Add(time.Minute)
	feedIdle(l, rng, end)
	second := l.Judge(procVec("proc:999@200", end, 98.6, 1e6))
	require.NotNil(t, second.Score, second.Abstain)
	require.Greater(t, *second.Score, 0.5, "at least MEDIUM under the default fuse thresholds")
	require.Len(t, second.Reasons, 1, "rss and child_exec_count are ordinary")
	r := second.Reasons[0]
	require.Equal(t, "temporal:cpu_percent", r.ID)
	require.Equal(t, "spike in cpu_percent against its population", r.Title)
	require.True(t, strings.HasPrefix(r.Text, "name-proc:999@200 cpu_percent 98.6 is "), r.Text)
	require.Contains(t, r.Text, "σ above the median 0.")
	require.Contains(t, r.Text, "recent process vectors on this host")
	require.Contains(t, r.Text, "2 windows running; its own baseline is warming up (2 of 31 points")
	require.Equal(t, "population", r.Evidence["baseline_of"])
	require.Equal(t, "2", r.Evidence["windows_above"])
	require.Equal(t, "161", r.Evidence["population_n"], "4 windows of 40 processes, and the burner's first")
}

// A new process busy for one window (a compiler), one mildly busy (3%) and one that is merely
// new are never scored; the layer abstains for them as before.
func TestPopulationPriorNeedsPersistenceAndMagnitude(t *testing.T) {
	l, rng := idleHost(t, DefaultLayerConfig(), 3)
	for w := 4; w < 10; w++ {
		end := t0.Add(time.Duration(w) * time.Minute)
		feedIdle(l, rng, end)
		if w == 5 {
			r := l.Judge(procVec("proc:500@1", end, 100, 50e6)) // compiler: one window
			require.Nil(t, r.Score)
			r = l.Judge(procVec("proc:501@1", end, 100, 50e6)) // next one, next window
			require.Nil(t, r.Score)
		}
		for _, key := range []string{"proc:600@1", "proc:601@1"} {
			cpu := 3.0
			if key == "proc:601@1" {
				cpu = 0.4
			}
			r := l.Judge(procVec(key, end, cpu, 30e6))
			require.Nil(t, r.Score, "%s at %v%%: %s", key, cpu, r.Abstain)
			require.NotContains(t, r.Abstain, "above its population")
		}
	}
	// A gap breaks the run: above in windows 1 and 3 of a key's life is not persistence.
	for _, w := range []int{10, 12, 14} {
		end := t0.Add(time.Duration(w) * time.Minute)
		feedIdle(l, rng, end)
		require.Nil(t, l.Judge(procVec("proc:700@1", end, 100, 30e6)).Score, "window %d", w)
	}
}

// Without a population (a fresh detector process), the prior abstains until enough earlier
// vectors of other keys exist.
func TestPopulationPriorNeedsAPopulation(t *testing.T) {
	l := NewLayer(DefaultLayerConfig())
	for w := 1; w <= 3; w++ {
		end := t0.Add(time.Duration(w) * time.Minute)
		for k := 0; k < 5; k++ { // 5 processes a window: 30 values only after 6 windows
			l.Judge(procVec(fmt.Sprintf("proc:%d@1", k), end, 0.2, 1e6))
		}
		require.Nil(t, l.Judge(procVec("proc:9@1", end, 100, 1e6)).Score)
	}
}

// Every key of one window end is judged against the same population, whatever order the
// vectors come in: the results per key do not depend on it.
func TestPopulationPriorOrderWithinWindow(t *testing.T) {
	run := func(seed uint64) map[string]string {
		l := NewLayer(DefaultLayerConfig())
		rng := rand.New(rand.NewPCG(seed, 1))
		out := map[string]string{}
		for w := 1; w <= 12; w++ {
			end := t0.Add(time.Duration(w) * time.Minute)
			var vs []*schemas.FeatureVector
			for k := 0; k < 40; k++ {
				cpu := float64(k%4) * 0.2
				if k >= 35 && w >= 6 {
					cpu = 90 + float64(k) // five burners start at window 6
				}
				vs = append(vs, procVec(fmt.Sprintf("proc:%d@%d", k, min(w, 6)*(k/35)), end, cpu, 1e6))
			}
			rng.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
			for _, v := range vs {
				r := l.Judge(v)
				s := r.Abstain
				if r.Score != nil {
					s = fmt.Sprintf("%.9f %v", *r.Score, r.Reasons)
				}
				out[fmt.Sprintf("%d/%s", w, v.Key)] = s
			}
		}
		return out
	}
	a := run(1)
	require.Equal(t, a, run(2))
	require.Equal(t, a, run(3))
	first := map[string]int{}
	for k, v := range a {
		if strings.Contains(v, "against its population") {
			var w int
			var key string
			_, err := fmt.Sscanf(strings.Replace(k, "/", " ", 1), "%d %s", &w, &key)
			require.NoError(t, err)
			require.True(t, strings.HasSuffix(key, "@6"), "%s: %s", k, v)
			if f, ok := first[key]; !ok || w < f {
				first[key] = w
			}
		}
	}
	require.Equal(t, map[string]int{"proc:35@6": 7, "proc:36@6": 7, "proc:37@6": 7, "proc:38@6": 7, "proc:39@6": 7}, first,
		"the five burners, from their second window")
}

// Memory: a population keeps popRing values however many keys pass, and groups are capped.
func TestPopulationBounded(t *testing.T) {
	p := newPopulation(popRing)
	var scratch []float32
	for w := 1; w <= 20; w++ {
		end := t0.Add(time.Duration(w) * time.Minute)
		n, _, _ := p.stats(end, &scratch)
		if w > 1 {
			require.Equal(t, min(popRing, popPendMax*(w-1)), n, "window %d", w)
		}
		for k := 0; k < 1000; k++ {
			p.add(end, float64(k))
		}
	}
	require.LessOrEqual(t, len(scratch), popRing)
	l := NewLayer(LayerConfig{PopulationFeatures: []string{"cpu_percent"}, MaxSeries: 100})
	for h := 0; h < maxPopGroups+50; h++ {
		v := procVec("proc:1@1", t0, 1, 1)
		v.Host = fmt.Sprint("h", h)
		l.Judge(v)
	}
	require.Len(t, l.pgroups, maxPopGroups)
}

// Once its own warm-up is over, a key is judged by its own detector only: a process that has
// burned since it started is, by then, ordinary for itself.
func TestPopulationPriorHandsOverAfterWarmup(t *testing.T) {
	cfg := DefaultLayerConfig()
	cfg.Detector.Warmup = 5
	l, rng := idleHost(t, cfg, 3)
	var last schemas.LayerResult
	for w := 4; w < 14; w++ {
		end := t0.Add(time.Duration(w) * time.Minute)
		feedIdle(l, rng, end)
		last = l.Judge(procVec("proc:999@1", end, 97+rng.Float64(), 1e6))
		if w == 5 {
			require.NotNil(t, last.Score)
			require.Contains(t, last.Reasons[0].Title, "against its population")
		}
	}
	require.NotNil(t, last.Score)
	require.Less(t, *last.Score, 0.5)
	for _, r := range last.Reasons {
		require.NotContains(t, r.Title, "population")
	}
}

// Vectors without samples (a process seen only by its exec event: its CPU and memory are 0 for
// want of data) are neither in the population nor judged: with them, the median memory of the
// host would be 0 and every measured process extreme.
func TestPopulationPriorIgnoresUnsampledVectors(t *testing.T) {
	l := NewLayer(DefaultLayerConfig())
	rng := rand.New(rand.NewPCG(31, 32))
	pv := func(key string, end time.Time, cpu, rss, samples float64) *schemas.FeatureVector {
		return &schemas.FeatureVector{Host: "h", KeyKind: "process", Key: key, Entity: "p", Window: "1m",
			Start: end.Add(-time.Minute), End: end, Names: []string{"cpu_percent", "rss_bytes", "samples"},
			Values: []float64{cpu, rss, samples}}
	}
	var last schemas.LayerResult
	for w := 1; w <= 5; w++ {
		end := t0.Add(time.Duration(w) * time.Minute)
		for k := 0; k < 20; k++ {
			l.Judge(pv(fmt.Sprintf("proc:%d@1", k), end, max(0, 0.3+0.2*rng.NormFloat64()), (20+5*rng.NormFloat64())*1e6, 12))
		}
		for k := 0; k < 200; k++ { // short-lived processes, exec events only
			l.Judge(pv(fmt.Sprintf("proc:%d@%d", 1000+k, w), end, 0, 0, 0))
		}
		if w >= 4 {
			last = l.Judge(pv("proc:77@200", end, 0.5, 8e6, 12)) // a new, ordinary process
			require.Nil(t, last.Score, "window %d: %s", w, last.Abstain)
			last = l.Judge(pv("proc:88@200", end, 99, 9e6, 12)) // a new burner
		}
	}
	require.NotNil(t, last.Score, last.Abstain)
	require.Len(t, last.Reasons, 1)
	require.Equal(t, "temporal:cpu_percent", last.Reasons[0].ID)
	require.Equal(t, "82", last.Reasons[0].Evidence["population_n"], "4 windows of 20 sampled processes, and the first windows of the two new ones")
}

// A program that is always busy on this host (a compiler, a test binary) is judged against its
// own earlier runs: a new run of it is ordinary, while a busy new shell is not. A key's own past
// never counts as its program's.
func TestPopulationPriorProgramHistory(t *testing.T) {
	l, rng := idleHost(t, DefaultLayerConfig(), 3)
	named := func(key, entity string, end time.Time, cpu float64) *schemas.FeatureVector {
		v := procVec(key, end, cpu, 1e6)
		v.Entity = entity
		return v
	}
	var lastCompile, lastShell schemas.LayerResult
	for w := 4; w < 12; w++ {
		end := t0.Add(time.Duration(w) * time.Minute)
		feedIdle(l, rng, end)
		// a compile process lives two windows at 90-100%; a new one starts every window
		l.Judge(named(fmt.Sprintf("proc:%d@1", 2000+w-1), "compile", end, 90+5*rng.Float64()))
		lastCompile = l.Judge(named(fmt.Sprintf("proc:%d@1", 2000+w), "compile", end, 90+5*rng.Float64()))
		if w >= 10 {
			lastShell = l.Judge(named("proc:3000@1", "sh", end, 95))
		}
	}
	require.Nil(t, lastCompile.Score, "a compile like the earlier ones: %s", lastCompile.Abstain)
	require.NotNil(t, lastShell.Score, lastShell.Abstain)
	require.NotContains(t, lastShell.Reasons[0].Text, "blended", "its own first window is no earlier sh vector")

	// The first compile processes, before the program had a history, were flagged like any burn.
	l2, rng2 := idleHost(t, DefaultLayerConfig(), 3)
	var first schemas.LayerResult
	for w := 4; w < 6; w++ {
		end := t0.Add(time.Duration(w) * time.Minute)
		feedIdle(l2, rng2, end)
		first = l2.Judge(named("proc:2000@1", "compile", end, 95))
	}
	require.NotNil(t, first.Score)
}

// A program's history is counted in processes: one long-lived busy process of a program does not
// make a new busy process of the same program ordinary (it weighs 20 %), four of them do.
func TestPopulationPriorProgramHistoryCountsProcesses(t *testing.T) {
	run := func(earlier int) schemas.LayerResult {
		l, rng := idleHost(t, DefaultLayerConfig(), 3)
		var last schemas.LayerResult
		for w := 4; w < 16; w++ {
			end := t0.Add(time.Duration(w) * time.Minute)
			feedIdle(l, rng, end)
			for k := 0; k < earlier; k++ { // busy runs of "job", for windows 4..13
				if w < 14 {
					v := procVec(fmt.Sprintf("proc:%d@1", 5000+k), end, 95, 1e6)
					v.Entity = "job"
					l.Judge(v)
				}
			}
			if w >= 14 {
				v := procVec("proc:6000@1", end, 95, 1e6)
				v.Entity = "job"
				last = l.Judge(v)
			}
		}
		return last
	}
	one := run(1)
	require.NotNil(t, one.Score, one.Abstain)
	require.Contains(t, one.Reasons[0].Text, "1 earlier processes of job, weight 20%")
	four := run(4)
	require.Nil(t, four.Score, "four earlier busy runs of the program: ordinary")
}
