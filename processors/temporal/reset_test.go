package temporal

import (
	"math"
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
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 50; i++ {
		d := l.detector([]byte{byte('a' + i%5)})
		d.Update(t0.Add(time.Duration(i)*time.Minute), float64(i))
		if l.Series() > 3 || l.lru.Len() != l.Series() {
			t.Fatalf("series %d, lru %d, cap 3", l.Series(), l.lru.Len())
		}
	}
	if l.Evicted != 47 {
		t.Fatalf("evicted %d, want 47", l.Evicted)
	}
	// 'a' was evicted long ago: it comes back as a new detector.
	if d := l.detector([]byte("a")); !reflect.DeepEqual(d, NewDetector(cfg.Detector)) {
		t.Fatalf("recycled series is not new: %+v", d)
	}
}
