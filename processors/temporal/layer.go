package temporal

import (
	"container/list"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/amoskys/amoskys/schemas"
)

// LayerConfig configures the temporal layer over feature vectors.
type LayerConfig struct {
	Detector Config
	// Features to watch; empty means every feature of every vector.
	Features []string
	// MaxSeries caps the number of series (host+key+window+feature) kept; the least recently
	// updated is evicted beyond it.
	MaxSeries int
	// ReasonThreshold is the score from which a feature gets a reason in the result.
	ReasonThreshold float64
	// MaxReasons bounds the reasons per result (highest scores first).
	MaxReasons int
	// PopulationFloor floors each series' sigma at this fraction of the typical deviation of the
	// same feature (and window) over all keys; 0 turns it off.
	PopulationFloor float64
}

// DefaultLayerConfig is the layer's configuration when nothing is set.
func DefaultLayerConfig() LayerConfig {
	return LayerConfig{Detector: DefaultConfig(), MaxSeries: 50000, ReasonThreshold: 0.5, MaxReasons: 5, PopulationFloor: 0.5}
}

func (c LayerConfig) validate() error {
	var errs []error
	if c.ReasonThreshold < 0 || c.ReasonThreshold > 1 {
		errs = append(errs, fmt.Errorf("reason_threshold %v: want 0..1", c.ReasonThreshold))
	}
	if c.Detector.Warmup < 1 {
		errs = append(errs, fmt.Errorf("warmup_points %d: want at least 1", c.Detector.Warmup))
	}
	if c.MaxSeries < 1 {
		errs = append(errs, fmt.Errorf("max_series %d: want at least 1", c.MaxSeries))
	}
	if c.Detector.Horizon < 2 {
		errs = append(errs, fmt.Errorf("horizon_points %d: want at least 2", c.Detector.Horizon))
	}
	if c.PopulationFloor < 0 {
		errs = append(errs, fmt.Errorf("population_floor %v: want 0 or more", c.PopulationFloor))
	}
	return errors.Join(errs...)
}

// Layer keeps one Detector per series and judges feature vectors. Not safe for concurrent use.
type Layer struct {
	cfg     LayerConfig
	watch   map[string]bool
	series  map[string]*list.Element
	lru     *list.List // front: most recently updated
	Evicted uint64     // series evicted by the cap
	pop     map[string]*popDev
	buf     []byte   // Judge's scratch for series keys
	pbuf    []byte   // and for population keys
	warm    []scored // Judge's scratch
}

// popDev is the typical absolute deviation of one feature (and window) from each key's own
// baseline, over all keys: bounded by the number of feature names times windows.
type popDev struct {
	dev float64
	n   int
}

func (p *popDev) add(x float64) {
	p.n++
	a := 1 / float64(p.n)
	if p.n > popHorizon {
		a = 1.0 / popHorizon
	}
	p.dev += a * (x - p.dev)
}

const popHorizon = 10000

// maxPopulations bounds the per-feature population statistics (names come from the window
// stage's fixed lists; this only guards against unbounded outside names).
const maxPopulations = 4096

type entry struct {
	key string
	det *Detector
}

// NewLayer returns a layer.
func NewLayer(cfg LayerConfig) *Layer {
	d := DefaultLayerConfig()
	if cfg.MaxSeries <= 0 {
		cfg.MaxSeries = d.MaxSeries
	}
	if cfg.ReasonThreshold <= 0 {
		cfg.ReasonThreshold = d.ReasonThreshold
	}
	if cfg.MaxReasons <= 0 {
		cfg.MaxReasons = d.MaxReasons
	}
	cfg.Detector = cfg.Detector.withDefaults()
	l := &Layer{cfg: cfg, series: map[string]*list.Element{}, lru: list.New(), pop: map[string]*popDev{}}
	if len(cfg.Features) > 0 {
		l.watch = map[string]bool{}
		for _, f := range cfg.Features {
			l.watch[f] = true
		}
	}
	return l
}

// Series is the number of series kept.
func (l *Layer) Series() int { return len(l.series) }

// detector returns the series' detector, creating it (or recycling the least recently updated
// one at the cap); the key is only copied to a string when a series is created.
func (l *Layer) detector(bkey []byte) *Detector {
	if el, ok := l.series[string(bkey)]; ok {
		l.lru.MoveToFront(el)
		return el.Value.(*entry).det
	}
	key := string(bkey)
	var reuse *list.Element
	for len(l.series) >= l.cfg.MaxSeries {
		old := l.lru.Back()
		delete(l.series, old.Value.(*entry).key)
		l.Evicted++
		if len(l.series) < l.cfg.MaxSeries { // the last one evicted is recycled for key
			reuse = old
			break
		}
		l.lru.Remove(old)
	}
	if reuse != nil { // no allocation at the cap: the evicted entry and detector become key's
		e := reuse.Value.(*entry)
		e.key = key
		e.det.reset(l.cfg.Detector)
		l.lru.MoveToFront(reuse)
		l.series[key] = reuse
		return e.det
	}
	e := &entry{key: key, det: NewDetector(l.cfg.Detector)}
	l.series[key] = l.lru.PushFront(e)
	return e.det
}

type scored struct {
	name string
	res  Result
}

// Judge feeds every watched feature of fv to its series' detector (at the window's end, in
// event time) and returns the layer result: the highest feature score, with a reason for each
// feature at or above the reason threshold; abstain while every watched series is warming up.
func (l *Layer) Judge(fv *schemas.FeatureVector) schemas.LayerResult {
	out := schemas.LayerResult{
		Layer: schemas.LayerTemporal, Time: fv.End, Host: fv.Host, Entity: fv.Key, Window: fv.Window, Source: fv.ID,
	}
	buf := append(l.buf[:0], fv.Host...)
	buf = append(append(buf, 0), fv.Key...)
	buf = append(append(buf, 0), fv.Window...)
	buf = append(buf, 0)
	prefix := len(buf)
	warm := l.warm[:0]
	defer func() { clear(warm); l.warm = warm[:0]; l.buf = buf[:0] }()
	watched, minN := 0, -1
	for i, name := range fv.Names {
		if i >= len(fv.Values) {
			break
		}
		if l.watch != nil && !l.watch[name] {
			continue
		}
		watched++
		buf = append(buf[:prefix], name...)
		d := l.detector(buf)
		x := fv.Values[i]
		if l.cfg.PopulationFloor > 0 && !math.IsNaN(x) && !math.IsInf(x, 0) {
			pk := append(l.pbuf[:0], fv.KeyKind...)
			pk = append(append(pk, 0), fv.Window...)
			pk = append(append(pk, 0), name...)
			l.pbuf = pk
			pd := l.pop[string(pk)]
			if pd == nil && len(l.pop) < maxPopulations {
				pd = &popDev{}
				l.pop[string(pk)] = pd
			}
			if pd != nil && d.N() > 0 {
				d.SetMinSigma(l.cfg.PopulationFloor * pd.dev * madToSigma)
				pd.add(math.Abs(x - d.Baseline()))
			}
		}
		r := d.Update(fv.End, x)
		if !r.Warm {
			if minN < 0 || d.N() < minN {
				minN = d.N()
			}
			continue
		}
		warm = append(warm, scored{name, r})
	}
	if len(warm) == 0 {
		if watched == 0 {
			out.Abstain = "no watched features in the vector"
		} else {
			out.Abstain = fmt.Sprintf("warming up: %d of %d points", minN, l.cfg.Detector.Warmup+1)
		}
		return out
	}
	// Highest score first; among equal scores (saturated ones), the larger relative change.
	sort.SliceStable(warm, func(i, j int) bool {
		a, b := warm[i].res, warm[j].res
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		return a.relChange() > b.relChange()
	})
	score := warm[0].res.Score
	out.Score = &score
	for _, w := range warm {
		if w.res.Score < l.cfg.ReasonThreshold || len(out.Reasons) >= l.cfg.MaxReasons {
			break
		}
		name := w.name
		if fv.Entity != "" && fv.KeyKind != "host" {
			name = fv.Entity + " " + w.name
		}
		out.Reasons = append(out.Reasons, schemas.Reason{
			ID:    "temporal:" + w.name,
			Title: w.res.Kind.String() + " in " + w.name,
			Text:  w.res.Reason(name),
			Score: w.res.Score,
			Evidence: map[string]string{
				"feature":  w.name,
				"value":    strconv.FormatFloat(w.res.Value, 'g', 6, 64),
				"baseline": strconv.FormatFloat(w.res.Baseline, 'g', 6, 64),
				"sigma":    strconv.FormatFloat(w.res.Sigma, 'g', 6, 64),
				"z":        strconv.FormatFloat(w.res.Z, 'f', 2, 64),
				"p":        strconv.FormatFloat(w.res.P, 'g', 3, 64),
				"seasonal": strconv.FormatBool(w.res.Seasonal),
			},
		})
	}
	return out
}
