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
	groups  map[string]*group // series by host+key+window, then feature
	n       int               // series kept
	lru     *list.List        // front: most recently updated
	Evicted uint64            // series evicted by the cap
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

// group holds the series of one host+key+window, by the feature's position in the vector.
type group struct {
	key  string // host \x00 key \x00 window \x00
	els  []*list.Element
	live int
}

// entry is one series: a feature of a group.
type entry struct {
	name string
	g    *group
	idx  int // in g.els
	det  *Detector
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
	l := &Layer{cfg: cfg, groups: map[string]*group{}, lru: list.New(), pop: map[string]*popDev{}}
	if len(cfg.Features) > 0 {
		l.watch = map[string]bool{}
		for _, f := range cfg.Features {
			l.watch[f] = true
		}
	}
	return l
}

// Series is the number of series kept.
func (l *Layer) Series() int { return l.n }

// unlink removes an evicted series from its group (and the group once empty).
func (l *Layer) unlink(e *entry) {
	e.g.els[e.idx] = nil
	e.g.live--
	l.n--
	if e.g.live == 0 {
		delete(l.groups, e.g.key)
	}
}

// detector returns the detector of the series named name in the group *gp (host+key+window
// prefix; nil until a series of it exists), creating it (or recycling the least recently updated
// series at the cap). i is the feature's position in the vector: where the series is looked for
// first, so that a vector's series are found without hashing a key per feature.
func (l *Layer) detector(gp **group, prefix []byte, i int, name string) *Detector {
	g := *gp
	if g != nil {
		if i < len(g.els) {
			if el := g.els[i]; el != nil && el.Value.(*entry).name == name {
				l.lru.MoveToFront(el)
				return el.Value.(*entry).det
			}
		}
		for _, el := range g.els {
			if el != nil && el.Value.(*entry).name == name {
				l.lru.MoveToFront(el)
				return el.Value.(*entry).det
			}
		}
	}
	var reuse *list.Element
	for l.n >= l.cfg.MaxSeries {
		old := l.lru.Back()
		l.unlink(old.Value.(*entry))
		l.Evicted++
		if l.n < l.cfg.MaxSeries { // the last one evicted is recycled for this series
			reuse = old
			break
		}
		l.lru.Remove(old)
	}
	if g == nil {
		g = &group{key: string(prefix)}
		*gp = g
	}
	if g.live == 0 { // new, or emptied by the eviction above
		l.groups[g.key] = g
	}
	idx := -1
	if i < len(g.els) && g.els[i] == nil {
		idx = i
	} else if i >= len(g.els) {
		for len(g.els) <= i {
			g.els = append(g.els, nil)
		}
		idx = i
	} else {
		for j, el := range g.els {
			if el == nil {
				idx = j
				break
			}
		}
		if idx < 0 {
			idx = len(g.els)
			g.els = append(g.els, nil)
		}
	}
	var e *entry
	if reuse != nil { // no allocation at the cap: the evicted entry and detector become this series'
		e = reuse.Value.(*entry)
		e.det.reset(l.cfg.Detector)
		l.lru.MoveToFront(reuse)
	} else {
		e = &entry{det: NewDetector(l.cfg.Detector)}
		reuse = l.lru.PushFront(e)
	}
	e.name, e.g, e.idx = name, g, idx
	g.els[idx] = reuse
	g.live++
	l.n++
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
	g := l.groups[string(buf)]
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
		d := l.detector(&g, buf, i, name)
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
			out.Abstain = "warming up: " + strconv.Itoa(minN) + " of " + strconv.Itoa(l.cfg.Detector.Warmup+1) + " points"
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
