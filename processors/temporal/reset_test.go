package temporal

import (
	"container/list"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// A recycled detector (the layer reuses evicted ones) behaves exactly like a new one.
func TestResetDetectorIsNew(t *testing.T) {
	cfg := DefaultConfig()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	feed := func(d *Detector, n int, f func(i int) float64) []Result {
		var rs []Result
		for i := 0; i < n; i++ {
			rs = append(rs, d.Update(t0.Add(time.Duration(i)*5*time.Minute), f(i)))
		}
		return rs
	}
	used := NewDetector(cfg)
	feed(used, 2000, func(i int) float64 { return 10 + 5*math.Sin(float64(i)/20) + float64(i%97) })
	used.SetMinSigma(3)
	used.reset(cfg)
	fresh := NewDetector(cfg)
	if used.n != 0 || used.ready || used.seasonReady || fresh.ready || fresh.seasonReady {
		t.Fatalf("after reset: %d points, buffers ready %v %v", used.n, used.ready, used.seasonReady)
	}
	// The histogram is cleared at the second point, the seasonal buffers when the first
	// time-of-day visit ends (a recycled detector keeps them until then): from there on the two
	// are the same.
	for i := 0; i < 2; i++ {
		at := t0.Add(-time.Duration(2-i) * 40 * time.Minute) // 22:40 and 23:20: the visit of 22:30 ends
		if ra, rb := used.Update(at, 3), fresh.Update(at, 3); ra != rb {
			t.Fatalf("point %d: %+v vs %+v", i, ra, rb)
		}
	}
	if !reflect.DeepEqual(used, fresh) {
		t.Fatalf("reset detector differs from a new one:\n%+v\n%+v", used, fresh)
	}
	series := func(i int) float64 {
		if i == 900 {
			return 500
		}
		return float64(i % 7)
	}
	a, b := feed(used, 1200, series), feed(fresh, 1200, series)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("a reset detector scores differently from a new one")
	}
	if !a[900].Warm || a[900].Score < 0.5 {
		t.Fatalf("the spike at 900 is not scored: %+v", a[900])
	}
}

// At the series cap the least recently updated series is evicted and its entry recycled: the
// cap holds, and a series that comes back starts from a new detector.
func TestEvictionRecyclesSeries(t *testing.T) {
	cfg := DefaultLayerConfig()
	cfg.MaxSeries = 3
	l := NewLayer(cfg)
	det := func(name string) *Detector {
		g := l.groups["k"]
		return l.detector(&g, []byte("k"), 0, name, 0)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 50; i++ {
		det(string(rune('a'+i%5))).Update(t0.Add(time.Duration(i)*time.Minute), float64(i))
		if l.Series() > 3 || l.lru.Len() != l.Series() {
			t.Fatalf("series %d, lru %d, cap 3", l.Series(), l.lru.Len())
		}
	}
	if l.Evicted != 47 {
		t.Fatalf("evicted %d, want 47", l.Evicted)
	}
	// 'a' was evicted long ago: it comes back as a new detector.
	if d := det("a"); !reflect.DeepEqual(d, NewDetector(cfg.Detector)) {
		t.Fatalf("recycled series is not new: %+v", d)
	}
}

// The layer's series (grouped by host+key+window, found by position) are exactly those of a
// plain LRU map keyed by host+key+window+feature, whatever the features' positions, duplicates
// and the cap.
func TestSeriesMatchPlainLRU(t *testing.T) {
	for _, maxSeries := range []int{1, 4, 13, 1000} {
		cfg := DefaultLayerConfig()
		cfg.MaxSeries = maxSeries
		l := NewLayer(cfg)
		ref := map[string]*list.Element{}
		lru := list.New()
		var evicted uint64
		refDet := func(key string) *Detector {
			if el, ok := ref[key]; ok {
				lru.MoveToFront(el)
				return el.Value.(*refEntry).det
			}
			for len(ref) >= maxSeries {
				old := lru.Back()
				lru.Remove(old)
				delete(ref, old.Value.(*refEntry).key)
				evicted++
			}
			e := &refEntry{key: key, det: NewDetector(cfg.Detector)}
			ref[key] = lru.PushFront(e)
			return e.det
		}
		r := rand.New(rand.NewPCG(1, uint64(maxSeries)))
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for step := 0; step < 3000; step++ {
			prefix := fmt.Sprintf("h%d\x00k%d\x00w\x00", r.IntN(2), r.IntN(4))
			g := l.groups[prefix]
			for i := 0; i < 1+r.IntN(6); i++ {
				name := fmt.Sprint("f", r.IntN(7))
				d := l.detector(&g, []byte(prefix), r.IntN(8), name, 8)
				rd := refDet(prefix + name)
				ts := t0.Add(time.Duration(step) * time.Minute)
				a, b := d.Update(ts, float64(step%11)), rd.Update(ts, float64(step%11))
				if a != b || d.N() != rd.N() {
					t.Fatalf("cap %d step %d %s%s: %+v n=%d, want %+v n=%d", maxSeries, step, prefix, name, a, d.N(), b, rd.N())
				}
			}
			if l.Series() != len(ref) || l.Evicted != evicted {
				t.Fatalf("cap %d step %d: %d series %d evicted, want %d and %d", maxSeries, step, l.Series(), l.Evicted, len(ref), evicted)
			}
		}
		if len(l.groups) > 8 {
			t.Fatalf("%d groups for 8 prefixes", len(l.groups))
		}
	}
}

type refEntry struct {
	key string
	det *Detector
}
