package temporal

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

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
	// PopulationFeatures are the features for which a key still warming up is judged against the
	// other keys of its kind on its host (the population prior, population.go); empty turns it off.
	PopulationFeatures []string
	// PopulationZ is the robust z (log scale) above the blended population baseline from which a
	// warming key counts as above its population.
	PopulationZ float64
	// PopulationWindows is how many consecutive windows a warming key must be above its
	// population before it is scored.
	PopulationWindows int
	// PopulationMin is how many population values (earlier vectors of other keys) are needed.
	PopulationMin int
}

// DefaultPopulationFeatures is a process's CPU: the one level where a new process is comparable
// with its peers. Not memory, fds or threads: the processes sampled on a host include kernel
// threads (no memory, no fds) and programs of every size, so a median of 0 or 1 made every new
// Go or Python program stand out (measured on a development host, docs/benchmarks/temporal.md);
// nor counts of children or connections (a shell or a server has many).
var DefaultPopulationFeatures = []string{"cpu_percent"}

// DefaultLayerConfig is the layer's configuration when nothing is set.
func DefaultLayerConfig() LayerConfig {
	return LayerConfig{Detector: DefaultConfig(), MaxSeries: 50000, ReasonThreshold: 0.5, MaxReasons: 5, PopulationFloor: 0.5,
		PopulationFeatures: DefaultPopulationFeatures, PopulationZ: 5, PopulationWindows: 2, PopulationMin: 20}
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
	if c.PopulationZ < 0 {
		errs = append(errs, fmt.Errorf("population_z %v: want 0 or more", c.PopulationZ))
	}
	if c.PopulationWindows < 0 {
		errs = append(errs, fmt.Errorf("population_windows %d: want 0 or more", c.PopulationWindows))
	}
	if c.PopulationMin < 0 {
		errs = append(errs, fmt.Errorf("population_min %d: want 0 or more", c.PopulationMin))
	}
	return errors.Join(errs...)
}

// Layer keeps one Detector per series and judges feature vectors. Not safe for concurrent use.
type Layer struct {
	cfg     LayerConfig
	watch   map[string]bool
	groups  map[string]*group // series by host+key+window, then feature
	n       int               // series kept
	lru     lruList           // front: most recently updated
	Evicted uint64            // series evicted by the cap
	pop     map[string]*popDev
	pgroups map[string]*popGroup // population statistics by host+kind+window, then feature
	prior   map[string]bool      // PopulationFeatures
	buf     []byte               // Judge's scratch for series keys
	pbuf    []byte               // and for population keys
	warm    []scored             // Judge's scratch
	top     []scored             // and for the features with a reason
	sbuf    []float32            // and for population statistics
	nclass  int                  // program histories kept (all slots)
	nextID  uint64               // last series id given for program histories
	warming []string             // abstention reasons "warming up: n of w points", by n (built once)
	spare   []*group             // groups emptied by eviction, for new keys (their slices kept)
	cur     *group               // the group detector works on: never made spare
}

// maxSpareGroups bounds the emptied groups kept for reuse.
const maxSpareGroups = 1024

// popGroup holds the population statistics of one host+kind+window, by feature position.
type popGroup struct {
	slots   []popSlot
	samples int // position of the "samples" feature in the group's vectors; -1: none seen
}

// samplesFeature counts the samples a vector's sample-derived features (CPU, memory, fds,
// threads of a process; an interface's rates) aggregate. When it is 0 those features are 0 for
// want of data, not measured: the population prior neither learns nor judges them.
const samplesFeature = "samples"

// unsampled reports whether fv says it holds no samples.
func (g *popGroup) unsampled(fv *schemas.FeatureVector) bool {
	i := g.samples
	if i < 0 || i >= len(fv.Names) || fv.Names[i] != samplesFeature {
		i = slices.Index(fv.Names, samplesFeature)
		g.samples = i
	}
	return i >= 0 && i < len(fv.Values) && fv.Values[i] == 0
}

type popSlot struct {
	name  string
	dev   *popDev     // typical deviation from a key's own baseline (kind+window+feature, all hosts)
	prior *population // cross-key distribution on this host (PopulationFeatures only)
	// classes: the recent history of each program (entity name), for keys of a program seen before
	classes map[string]*classPop
}

// slot returns the statistics of feature name at position i of the group's vectors.
func (l *Layer) slot(g *popGroup, kind, window string, i int, name string) *popSlot {
	if i < len(g.slots) && g.slots[i].name == name {
		return &g.slots[i]
	}
	for j := range g.slots {
		if g.slots[j].name == name {
			return &g.slots[j]
		}
	}
	for len(g.slots) <= i {
		g.slots = append(g.slots, popSlot{})
	}
	if g.slots[i].name != "" { // the position holds another feature: append instead
		g.slots = append(g.slots, popSlot{})
		i = len(g.slots) - 1
	}
	sl := &g.slots[i]
	sl.name = name
	pk := append(l.pbuf[:0], kind...)
	pk = append(append(pk, 0), window...)
	pk = append(append(pk, 0), name...)
	l.pbuf = pk
	if pd := l.pop[string(pk)]; pd != nil {
		sl.dev = pd
	} else if len(l.pop) < maxPopulations {
		sl.dev = &popDev{}
		l.pop[string(pk)] = sl.dev
	}
	if l.prior[name] {
		sl.prior = newPopulation(popRing)
		sl.classes = map[string]*classPop{}
	}
	return sl
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
	els  []*entry
	live int
}

// entry is one series: a feature of a group (its detector inline: one allocation per series).
type entry struct {
	prev, next *entry // in Layer.lru
	g          *group
	name       string
	// fresh: det is not this series' yet (a recycled entry still holds the evicted series'
	// detector); hasFirst: the series' first point is firstX at time.Unix(firstSec, firstNsec).
	// A new detector's first Update only stores its point and abstains, so the layer records
	// the point here and sets det up (materialize: reset, then that Update) only when a second
	// point or the population prior needs it. Most process keys are seen in one window: their
	// series then never write the 432-byte detector. The fields above det fill one 64-byte
	// cache line (entries are 512-byte aligned), the only line a fresh series writes: a recycled
	// entry is the least recently used, cold. (So no position in g.els is kept: unlink finds it.)
	fresh, hasFirst bool
	firstNsec       int32
	firstX          float64
	firstSec        int64
	det             Detector
}

// lruList is an intrusive doubly linked list of entries, front the most recently updated: no
// element to allocate per series and no interface to assert per lookup (container/list).
type lruList struct {
	root *entry // sentinel: root.next is the front, root.prev the back
	n    int
}

func newLRU() lruList {
	r := &entry{}
	r.next, r.prev = r, r
	return lruList{root: r}
}

// Len is the number of entries in the list.
func (l *lruList) Len() int { return l.n }

// Back is the least recently updated entry, nil when the list is empty.
func (l *lruList) Back() *entry {
	if l.n == 0 {
		return nil
	}
	return l.root.prev
}

func (l *lruList) insertFront(e *entry) {
	e.prev, e.next = l.root, l.root.next
	e.prev.next, e.next.prev = e, e
}

func (l *lruList) unlinkEntry(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

// PushFront adds e at the front.
func (l *lruList) PushFront(e *entry) {
	l.insertFront(e)
	l.n++
}

// MoveToFront moves e, in the list, to the front.
func (l *lruList) MoveToFront(e *entry) {
	if l.root.next == e {
		return
	}
	l.unlinkEntry(e)
	l.insertFront(e)
}

// Remove takes e out of the list.
func (l *lruList) Remove(e *entry) {
	l.unlinkEntry(e)
	l.n--
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
	if cfg.PopulationWindows <= 0 {
		cfg.PopulationWindows = 1
	}
	l := &Layer{cfg: cfg, groups: map[string]*group{}, lru: newLRU(), pop: map[string]*popDev{}, pgroups: map[string]*popGroup{}}
	if len(cfg.PopulationFeatures) > 0 {
		l.prior = map[string]bool{}
		for _, f := range cfg.PopulationFeatures {
			l.prior[f] = true
		}
	}
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
	for j, x := range e.g.els { // the group's few series: no position kept in the entry
		if x == e {
			e.g.els[j] = nil
			break
		}
	}
	e.g.live--
	l.n--
	if e.g.live == 0 {
		delete(l.groups, e.g.key)
		if e.g != l.cur && len(l.spare) < maxSpareGroups {
			l.spare = append(l.spare, e.g)
		}
	}
}

// detector returns the detector of the series named name in the group *gp (host+key+window
// prefix; nil until a series of it exists), creating it (or recycling the least recently updated
// series at the cap). i is the feature's position in the vector: where the series is looked for
// first, so that a vector's series are found without hashing a key per feature.
// sizeHint is the capacity of a new group's series (its vector's feature count).
func (l *Layer) detector(gp **group, prefix []byte, i int, name string, sizeHint int) *Detector {
	e := l.series(gp, prefix, i, name, sizeHint)
	l.materialize(e)
	return &e.det
}

// materialize makes a fresh entry's detector the series' own: reset, then its recorded first
// point learnt, exactly the state Update of a new detector would have reached.
func (l *Layer) materialize(e *entry) {
	if !e.fresh {
		return
	}
	e.fresh = false
	e.det.resetDefaulted(&l.cfg.Detector)
	if e.hasFirst {
		e.hasFirst = false
		e.det.Update(time.Unix(e.firstSec, int64(e.firstNsec)), e.firstX)
	}
}

// series is detector without setting a new series' detector up: a new (or recycled) entry
// comes back fresh (see entry).
func (l *Layer) series(gp **group, prefix []byte, i int, name string, sizeHint int) *entry {
	g := *gp
	l.cur = g
	if g != nil {
		if i < len(g.els) {
			if e := g.els[i]; e != nil && e.name == name {
				l.lru.MoveToFront(e)
				return e
			}
		}
		for _, e := range g.els {
			if e != nil && e.name == name {
				l.lru.MoveToFront(e)
				return e
			}
		}
	}
	var reuse *entry
	for l.n >= l.cfg.MaxSeries {
		old := l.lru.Back()
		l.unlink(old)
		l.Evicted++
		if l.n < l.cfg.MaxSeries { // the last one evicted is recycled for this series
			reuse = old
			break
		}
		l.lru.Remove(old)
	}
	if g == nil {
		if n := len(l.spare); n > 0 { // every series of a spare group was unlinked: its els are nil
			g, l.spare = l.spare[n-1], l.spare[:n-1]
			g.key, g.els = string(prefix), g.els[:0]
		} else {
			g = &group{key: string(prefix), els: make([]*entry, 0, max(i+1, sizeHint))}
		}
		*gp = g
		l.cur = g
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
	e := reuse
	if e != nil { // no allocation at the cap: the evicted entry and detector become this series'
		l.lru.MoveToFront(e)
	} else {
		e = &entry{}
		l.lru.PushFront(e)
	}
	e.name, e.g = name, g
	e.fresh, e.hasFirst = true, false
	g.els[idx] = e
	g.live++
	l.n++
	return e
}

// warmingUp is the abstention "warming up: n of w points" (w: the warm-up plus one), each
// string built once (a process key's vectors all abstain so).
func (l *Layer) warmingUp(n int) string {
	if n < 0 || n > l.cfg.Detector.Warmup+1 {
		return "warming up: " + strconv.Itoa(n) + " of " + strconv.Itoa(l.cfg.Detector.Warmup+1) + " points"
	}
	if l.warming == nil {
		l.warming = make([]string, l.cfg.Detector.Warmup+2)
	}
	if l.warming[n] == "" {
		l.warming[n] = "warming up: " + strconv.Itoa(n) + " of " + strconv.Itoa(l.cfg.Detector.Warmup+1) + " points"
	}
	return l.warming[n]
}

type scored struct {
	name string
	res  Result
	pop  popInfo // when byPop: the population behind the score
	// byPop: the population prior scored the feature (the key is warming up).
	byPop bool
}

// before orders scored features: highest score first; among equal scores (saturated ones), the
// larger relative change.
func before(a, b *scored) bool {
	if a.res.Score != b.res.Score {
		return a.res.Score > b.res.Score
	}
	return a.res.relChange() > b.res.relChange()
}

// Judge feeds every watched feature of fv to its series' detector (at the window's end, in
// event time) and returns the layer result: the highest feature score, with a reason for each
// feature at or above the reason threshold; abstain while every watched series is warming up,
// unless the population prior (population.go) finds a warming series persistently above the
// other keys of its kind.
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
	var pg *popGroup
	if l.cfg.PopulationFloor > 0 || l.prior != nil {
		pk := append(l.pbuf[:0], fv.Host...)
		pk = append(append(pk, 0), fv.KeyKind...)
		pk = append(append(pk, 0), fv.Window...)
		l.pbuf = pk
		if pg = l.pgroups[string(pk)]; pg == nil && len(l.pgroups) < maxPopGroups {
			pg = &popGroup{samples: -1}
			l.pgroups[string(pk)] = pg
		}
	}
	watched, minN, pending := 0, -1, 0
	// A fresh series keeps its first point's time as Unix seconds and nanoseconds: the detector
	// only subtracts times and reads their Unix seconds, so time.Unix of them behaves as fv.End
	// does, unless fv.End has a monotonic clock reading (Sub would use it) or lies beyond
	// time.Unix's range. Such an end takes the detector's own path.
	endSec, endNsec := fv.End.Unix(), int32(fv.End.Nanosecond())
	plainEnd := fv.End == fv.End.Round(0) && time.Unix(endSec, int64(endNsec)).Equal(fv.End)
	unsampled := l.prior != nil && pg != nil && pg.unsampled(fv)
	for i, name := range fv.Names {
		if i >= len(fv.Values) {
			break
		}
		if l.watch != nil && !l.watch[name] {
			continue
		}
		watched++
		e := l.series(&g, buf, i, name, len(fv.Names))
		x := fv.Values[i]
		finite := !math.IsNaN(x) && !math.IsInf(x, 0)
		var sl *popSlot
		if pg != nil && finite {
			sl = l.slot(pg, fv.KeyKind, fv.Window, i, name)
		}
		if e.fresh && !e.hasFirst && finite && plainEnd && (sl == nil || sl.prior == nil || unsampled) {
			// A new series' first point, outside the population prior: Update of a new detector
			// would store it and abstain with 1 point (nor does the floor below apply at 0
			// points). Recorded only; materialize learns it when the series needs its detector.
			e.firstSec, e.firstNsec, e.firstX, e.hasFirst = endSec, endNsec, x, true
			if minN < 0 || 1 < minN {
				minN = 1
			}
			continue
		}
		l.materialize(e)
		d := &e.det
		if sl != nil && sl.dev != nil && l.cfg.PopulationFloor > 0 && d.N() > 0 {
			d.SetMinSigma(l.cfg.PopulationFloor * sl.dev.dev * madToSigma)
			sl.dev.add(math.Abs(x - d.Baseline()))
		}
		r := d.Update(fv.End, x)
		if sl == nil || sl.prior == nil || unsampled {
			if !r.Warm {
				if minN < 0 || d.N() < minN {
					minN = d.N()
				}
				continue
			}
			warm = append(warm, scored{name: name, res: r})
			continue
		}
		u := logScale(x)
		// The key's program (entity name): its recent history on this host, from other keys.
		var cls *classPop
		if fv.Entity != "" {
			if cls = sl.classes[fv.Entity]; cls == nil && l.nclass < maxClasses {
				cls = &classPop{}
				sl.classes[fv.Entity] = cls
				l.nclass++
			}
			if cls != nil && d.pop.id == 0 {
				l.nextID++
				d.pop.id = l.nextID
			}
		}
		if r.Warm {
			sl.prior.add(fv.End, u)
			if cls != nil {
				cls.add(fv.End, d.pop.id, u)
			}
			warm = append(warm, scored{name: name, res: r})
			continue
		}
		if minN < 0 || d.N() < minN {
			minN = d.N()
		}
		n, hmed, hmad := sl.prior.stats(fv.End, &l.sbuf)
		sl.prior.add(fv.End, u)
		// Earlier processes of the same program are blended in (weight cn/(cn+classWeight), cn
		// processes), so a
		// compiler or a test binary that is always busy on this host is judged against earlier
		// runs of itself rather than against idle daemons.
		med, mad := hmed, hmad
		var cn int
		var cw, cmed float64
		if cls != nil {
			var cmad float64
			if cn, cmed, cmad = cls.stats(fv.End, d.pop.id, &l.sbuf); cn > 0 {
				cw = float64(cn) / (float64(cn) + classWeight)
				med, mad = cw*cmed+(1-cw)*hmed, cw*cmad+(1-cw)*hmad
			}
			cls.add(fv.End, d.pop.id, u)
		}
		var v popVerdict
		if n >= l.cfg.PopulationMin {
			v = d.pop.judge(u, med, mad, l.cfg.Detector.Warmup, l.cfg.PopulationZ)
		}
		d.pop.learn(u, v.above, fv.Start, fv.End)
		if !v.above {
			continue
		}
		if d.pop.run < l.cfg.PopulationWindows {
			pending = max(pending, d.pop.run)
			continue
		}
		rs := gaussSurprise(v.z)
		pr := Result{Warm: true, Score: rs / (rs + l.cfg.Detector.ScoreScale), P: math.Exp(-rs * math.Ln10), Z: v.z,
			Kind: KindSpike, Value: x, Baseline: unLogScale(v.center)}
		pr.Sigma = unLogScale(v.center+v.sigma) - pr.Baseline
		warm = append(warm, scored{name: name, res: pr, byPop: true, pop: popInfo{kind: fv.KeyKind, n: n,
			median: unLogScale(hmed), mad: hmad, run: d.pop.run, ownN: d.N(), warmup: l.cfg.Detector.Warmup + 1,
			class: fv.Entity, classN: cn, classW: cw, classMed: unLogScale(cmed)}})
	}
	top := l.top[:0]
	defer func() { clear(warm); l.warm = warm[:0]; clear(top); l.top = top[:0]; l.buf = buf[:0] }()
	if len(warm) == 0 {
		switch {
		case watched == 0:
			out.Abstain = "no watched features in the vector"
		case pending > 0:
			out.Abstain = "warming up: " + strconv.Itoa(minN) + " of " + strconv.Itoa(l.cfg.Detector.Warmup+1) +
				" points; above its population for " + strconv.Itoa(pending) + " of " + strconv.Itoa(l.cfg.PopulationWindows) + " windows"
		default:
			out.Abstain = l.warmingUp(minN)
		}
		return out
	}
	best := 0
	for i := 1; i < len(warm); i++ {
		if before(&warm[i], &warm[best]) {
			best = i
		}
	}
	score := warm[best].res.Score
	out.Score = &score
	for i := range warm {
		if warm[i].res.Score >= l.cfg.ReasonThreshold {
			top = append(top, warm[i])
		}
	}
	if len(top) == 0 {
		return out
	}
	slices.SortStableFunc(top, func(a, b scored) int {
		switch {
		case before(&a, &b):
			return -1
		case before(&b, &a):
			return 1
		}
		return 0
	})
	for _, w := range top {
		if len(out.Reasons) >= l.cfg.MaxReasons {
			break
		}
		name := w.name
		if fv.Entity != "" && fv.KeyKind != "host" {
			name = fv.Entity + " " + w.name
		}
		rs := schemas.Reason{
			ID:    "temporal:" + w.name,
			Title: w.res.Kind.String() + " in " + w.name,
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
		}
		if w.byPop {
			rs.Title = "spike in " + w.name + " against its population"
			rs.Text = popReason(name, w.res, w.pop)
			rs.Evidence["baseline_of"] = "population"
			rs.Evidence["population_median"] = strconv.FormatFloat(w.pop.median, 'g', 6, 64)
			rs.Evidence["population_n"] = strconv.Itoa(w.pop.n)
			rs.Evidence["windows_above"] = strconv.Itoa(w.pop.run)
		} else {
			rs.Text = w.res.Reason(name)
		}
		out.Reasons = append(out.Reasons, rs)
	}
	return out
}
