package temporal

import (
	"math"
	"slices"
	"strconv"
	"time"
)

// The population prior judges a key that is still warming up (a process that just started has
// no baseline of its own) against the other keys of its kind on the same host: per host, key
// kind, window and feature, the layer keeps the values of the most recent vectors of every key
// (popRing of them, one per key and window) on a log scale, u = sign(x)·ln(1+|x|), and their
// median and MAD. When earlier processes of the same program (entity name) were seen on the host,
// their values (the last classRing, from other keys) are blended in first with weight
// n/(n+classWeight), n the number of those other keys: a compiler or a test binary that is always busy is judged against its own
// earlier runs rather than against idle daemons. A warming key's expected value is that median
// blended with the key's own mean (in u) as its own points accumulate: with k own points and
// w = Warmup,
//
//	center = (w·median + k·own mean) / (w + k),  sigma = max((w·1.4826·MAD + k·1.2533·own dev) / (w + k), popSigmaFloor)
//
// so the prior fades out as the key's own detector takes over at the end of its warm-up. A key is
// above its population when z = (u − center)/sigma ≥ PopulationZ (one-sided: a new process using
// less than its peers is ordinary). It is scored only once it has been above for
// PopulationWindows consecutive windows (persistence: a compiler busy for a few seconds is not a
// burn), with score s/(s+ScoreScale), s = −log10 of the Gaussian tail of z, as the key's own
// detector scores. Below that the layer still abstains for the key, as before.
//
// A vector whose "samples" feature is 0 has no data for its sample-derived features (the window
// stage writes 0 for a feature without input: a process seen only by its exec event), so it is
// left out of the populations and not judged by the prior: a median of such zeros would make any
// measured memory or CPU look extreme.
//
// Determinism: a window's values join the population only once a vector of a later window end
// arrives, so every key of one window end is judged against the same population whatever order
// the window stage emits them in, and a key is never judged against itself in the same window.
// Memory: popRing float32 values per (host, kind, window, feature) in PopulationFeatures, with
// the number of (host, kind, window) groups capped at maxPopGroups; classRing values (and series
// ids) per program, at most maxClasses programs per layer (later ones use the host population only).

const (
	// popRing is how many recent values (one per key and window) each population keeps.
	popRing = 256
	// popPendMax caps the values one window end adds (half a ring), so that half the ring of
	// earlier windows stays usable however many keys a window has.
	popPendMax = popRing / 2
	// classRing is how many recent values each program (entity name) keeps, classWeight the
	// pseudo-count, in processes, of the host population against the program's earlier
	// processes (1 earlier process weighs 20 %, 4 weigh 50 %), maxClasses the programs tracked.
	classRing   = 16
	classWeight = 4.0
	maxClasses  = 16384
	// popSigmaFloor is the smallest sigma of a blended baseline on the log scale: no population
	// knows a new key's level better than within a factor e^0.5 ≈ 1.65 per sigma.
	popSigmaFloor = 0.5
	// madToSigmaGauss turns a median absolute deviation into a Gaussian sigma.
	madToSigmaGauss = 1.4826
	// maxPopGroups bounds the (host, kind, window) groups of population statistics.
	maxPopGroups = 4096
)

// logScale is sign(x)·ln(1+|x|): resource levels span orders of magnitude across processes.
func logScale(x float64) float64 {
	if x < 0 {
		return -math.Log1p(-x)
	}
	return math.Log1p(x)
}

func unLogScale(u float64) float64 {
	if u < 0 {
		return -math.Expm1(-u)
	}
	return math.Expm1(u)
}

// population is the recent distribution of one feature over the keys of one host, kind and window.
type population struct {
	vals    []float32 // ring of values (u), newPopulation's size
	total   int       // values ever written (ring position = total % popRing)
	pend    int       // newest values, from window end pendEnd, not yet in the statistics
	pendEnd time.Time // window end of the pending values
	n       int       // values in the statistics
	med     float64   // their median (u)
	mad     float64   // and median absolute deviation (u)
	dirty   bool
}

func newPopulation(size int) *population { return &population{vals: make([]float32, size)} }

// add records x from a vector of window end end.
func (p *population) add(end time.Time, u float64) {
	if end.After(p.pendEnd) {
		if p.pend > 0 {
			p.pend = 0
			p.dirty = true
		}
		p.pendEnd = end
	}
	size := len(p.vals)
	if p.pend >= size/2 { // at most half the ring from one window end
		return
	}
	p.vals[p.total%size] = float32(u)
	p.total++
	p.pend++
}

// stats returns the committed values' count, median and MAD (u), recomputing them at most once
// per window end; scratch is reused.
func (p *population) stats(end time.Time, scratch *[]float32) (n int, med, mad float64) {
	if end.After(p.pendEnd) && p.pend > 0 { // a later window: the pending values are complete
		p.pend = 0
		p.dirty = true
	}
	if p.dirty {
		p.dirty = false
		size := len(p.vals)
		avail := min(p.total, size) - p.pend
		s := (*scratch)[:0]
		for i := 0; i < avail; i++ { // the avail values before the pending tail
			s = append(s, p.vals[(p.total-p.pend-1-i)%size])
		}
		p.n = len(s)
		if p.n > 0 {
			slices.Sort(s)
			p.med = median32(s)
			for i := range s {
				s[i] = float32(math.Abs(float64(s[i]) - p.med))
			}
			slices.Sort(s)
			p.mad = median32(s)
		}
		*scratch = s
	}
	return p.n, p.med, p.mad
}

func median32(s []float32) float64 {
	m := len(s) / 2
	if len(s)%2 == 1 {
		return float64(s[m])
	}
	return (float64(s[m-1]) + float64(s[m])) / 2
}

// classPop is the recent history of one program (entity name) on a host: the last classRing
// values of its keys, each with the id of the series it came from, so that a key is never
// compared with its own past through its program.
type classPop struct {
	vals    [classRing]float32
	ids     [classRing]uint64
	total   int
	pend    int
	pendEnd time.Time
}

func (c *classPop) add(end time.Time, id uint64, u float64) {
	if end.After(c.pendEnd) {
		c.pend = 0
		c.pendEnd = end
	}
	if c.pend >= classRing/2 {
		return
	}
	c.vals[c.total%classRing], c.ids[c.total%classRing] = float32(u), id
	c.total++
	c.pend++
}

// stats returns the number of distinct series, and the median and MAD (u) of the values, of
// earlier windows from series other than id. The evidence is counted in series, not values: one
// long-lived process of a program says less about the program than as many separate runs.
func (c *classPop) stats(end time.Time, id uint64, scratch *[]float32) (keys int, med, mad float64) {
	pend := c.pend
	if end.After(c.pendEnd) {
		pend = 0
	}
	s := (*scratch)[:0]
	var seen [classRing]uint64
	for i := 0; i < min(c.total, classRing)-pend; i++ {
		j := (c.total - pend - 1 - i) % classRing
		if c.ids[j] == id {
			continue
		}
		s = append(s, c.vals[j])
		if !slices.Contains(seen[:keys], c.ids[j]) {
			seen[keys] = c.ids[j]
			keys++
		}
	}
	*scratch = s
	if len(s) == 0 {
		return 0, 0, 0
	}
	slices.Sort(s)
	med = median32(s)
	for i := range s {
		s[i] = float32(math.Abs(float64(s[i]) - med))
	}
	slices.Sort(s)
	return keys, med, median32(s)
}

// popState is a warming series' own side of the prior: its mean and mean absolute deviation on
// the log scale, and how many consecutive windows it has been above its population.
type popState struct {
	id   uint64 // the series' id in its program's history (assigned by the layer; 0: none yet)
	k    int    // own points seen (log scale)
	mean float64
	dev  float64
	run  int       // consecutive windows above the population
	last time.Time // window end of the last window above
}

// popInfo is what a reason says about the population behind a score.
type popInfo struct {
	kind        string // key kind, e.g. "process"
	n           int    // population values used
	median, mad float64
	class       string  // the key's program (entity name) when its history took part
	classN      int     // its earlier processes (keys)
	classW      float64 // and their weight in the prior
	classMed    float64 // and their median
	run         int     // consecutive windows above
	ownN        int     // the key's own points
	warmup      int     // points its own detector needs
}

// popVerdict is the prior's judgement of one warming point.
type popVerdict struct {
	above  bool
	z      float64
	center float64 // blended expected value (u)
	sigma  float64 // blended sigma (u)
}

// judge compares u with the blended baseline, before the point is learnt.
func (s *popState) judge(u, med, mad float64, warmup int, zMin float64) popVerdict {
	w, k := float64(warmup), float64(s.k)
	center := (w*med + k*s.mean) / (w + k)
	sigma := math.Max((w*madToSigmaGauss*mad+k*madToSigma*s.dev)/(w+k), popSigmaFloor)
	z := (u - center) / sigma
	return popVerdict{above: z >= zMin, z: z, center: center, sigma: sigma}
}

// learn adds the point to the series' own log-scale mean and deviation and updates the run of
// windows above the population (consecutive when this window starts where the last one ended,
// or overlaps it).
func (s *popState) learn(u float64, above bool, start, end time.Time) {
	s.k++
	a := 1 / float64(s.k)
	s.mean += a * (u - s.mean)
	s.dev += a * (math.Abs(u-s.mean) - s.dev)
	switch {
	case !above:
		s.run = 0
	case s.run > 0 && !start.After(s.last):
		s.run++
		s.last = end
	default:
		s.run = 1
		s.last = end
	}
}

// popReason is the sentence for a feature scored by the population prior, e.g.
// "cpu_percent 98.6 is 8.9 σ above the median 0.05 of 143 recent process vectors on this host (log
// scale, MAD 0.04), 2 windows running; its own baseline is warming up (2 of 31 points)".
func popReason(name string, r Result, pi popInfo) string {
	b := make([]byte, 0, 200)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, fmtNum(r.Value)...)
	b = append(b, " is "...)
	b = strconv.AppendFloat(b, r.Z, 'f', 1, 64)
	b = append(b, " σ above the median "...)
	b = append(b, fmtNum(pi.median)...)
	b = append(b, " of "...)
	b = strconv.AppendInt(b, int64(pi.n), 10)
	b = append(b, " recent "...)
	b = append(b, pi.kind...)
	b = append(b, " vectors on this host (log scale, MAD "...)
	b = strconv.AppendFloat(b, pi.mad, 'g', 2, 64)
	if pi.classN > 0 {
		b = append(b, "; blended with the median "...)
		b = append(b, fmtNum(pi.classMed)...)
		b = append(b, " of "...)
		b = strconv.AppendInt(b, int64(pi.classN), 10)
		b = append(b, " earlier processes of "...)
		b = append(b, pi.class...)
		b = append(b, ", weight "...)
		b = strconv.AppendInt(b, int64(math.Round(100*pi.classW)), 10)
		b = append(b, '%')
	}
	b = append(b, "), "...)
	b = strconv.AppendInt(b, int64(pi.run), 10)
	b = append(b, " windows running; its own baseline is warming up ("...)
	b = strconv.AppendInt(b, int64(pi.ownN), 10)
	b = append(b, " of "...)
	b = strconv.AppendInt(b, int64(pi.warmup), 10)
	b = append(b, " points, p="...)
	b = strconv.AppendFloat(b, r.P, 'e', 1, 64)
	b = append(b, ')')
	return string(b)
}
