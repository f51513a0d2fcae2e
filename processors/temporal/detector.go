// Package temporal is the temporal detection layer: per-series streaming statistics that turn
// each new point of a metric into a calibrated surprise score in 0..1 with a readable reason.
//
// Each series keeps, in O(1) memory (about 2 KB) and O(1) work per point:
//   - a baseline of its level: EWMA mean and EWMA absolute deviation (robust sigma = 1.2533
//     MAD), not winsorised by default so a new regime widens the deviation at once and the
//     detector alerts on the change rather than on every point after it; optional signals for
//     step changes and short-term level shifts;
//   - a time-of-day profile learnt across days (seasonality), used only while it predicts the
//     series better than the flat baseline, and a per-time-of-day memory of recent surprise that
//     damps what recurs daily (a nightly job);
//   - a decayed histogram of its own past surprises, which calibrates the Gaussian tail
//     probability of each new point against how often this series has really been that
//     surprising (so one score means the same rarity on a noisy and on a quiet series);
//   - a refractory peak, so one incident scores high once.
//
// Layer applies a Detector per series (host+key+window+feature) to feature vectors with a cap on
// series; plugin.go adapts it to Benthos as the `temporal` processor. The NAB harness
// (`amoskys bench nab`) runs the same Detector.
//
// Nothing reads the wall clock: time comes from the points themselves.
package temporal

import (
	"fmt"
	"math"
	"time"
)

// Config is one configuration for every series.
type Config struct {
	// Warmup is the number of points a series needs before it is scored.
	Warmup int
	// Horizon is the baseline's memory in points (EWMA half-life-ish: alpha = 1/Horizon).
	Horizon int
	// ShortHorizon is the memory, in points, of the short-term level used to see level shifts.
	ShortHorizon int
	// CalibrationHorizon is the memory, in points, of the surprise histogram.
	CalibrationHorizon int
	// Likelihood scores with an anomaly likelihood (HTM style): the short average of raw
	// surprise against its long-run Gaussian, instead of the per-point calibration. Off by
	// default: on NAB it scored below the calibration (standard 21.9 vs 47.1, same signals).
	Likelihood bool
	// LikelihoodShort is the memory, in points, of the short average of raw surprise.
	LikelihoodShort int
	// RawCap bounds raw surprise (in -log10 p) before the likelihood.
	RawCap float64
	// Jump and Shift also score step changes (the first difference against its own baseline)
	// and short-term level shifts. Off by default: on NAB they add more false alarms than
	// detections (standard score 47.1 with both vs 50.6 without).
	Jump, Shift bool
	// Refractory is the half-life, in points, of the recent peak surprise; a point no more
	// surprising than that decayed peak has its surprise multiplied by Damp, so one incident
	// scores high once rather than on each of its points. 0 turns it off.
	Refractory int
	Damp       float64
	// Prior is the weight, in points, of the Gaussian tail in the calibration.
	Prior float64
	// Clip winsorises updates of the baseline at this many robust sigmas; 0 does not. Off by
	// default: a baseline that absorbs a new regime (its deviation widens at once) alerts on
	// the change and then goes quiet, where a winsorised one keeps alerting (NAB standard
	// 62.5 unclipped vs 54.9 at 5σ).
	Clip float64
	// Seasonal enables the time-of-day profile (SeasonBuckets buckets per day).
	Seasonal      bool
	SeasonBuckets int
	// ScoreScale maps calibrated surprise s = -log10(p) to 0..1: score = s/(s+ScoreScale), so
	// a one-in-10^ScoreScale point scores 0.5 and the score never saturates (ranks stay apart).
	ScoreScale float64
}

// DefaultConfig is the configuration used everywhere: in the pipeline and in `amoskys bench nab`.
func DefaultConfig() Config {
	return Config{
		Warmup:             30,
		Horizon:            2000,
		ShortHorizon:       4,
		CalibrationHorizon: 2000,
		Clip:               0,
		Seasonal:           true,
		SeasonBuckets:      48,
		ScoreScale:         8,
		Prior:              2000,
		Likelihood:         false,
		Refractory:         20,
		Damp:               0.5,
		LikelihoodShort:    5,
		RawCap:             10,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Warmup <= 0 {
		c.Warmup = d.Warmup
	}
	if c.Horizon <= 1 {
		c.Horizon = d.Horizon
	}
	if c.ShortHorizon <= 0 {
		c.ShortHorizon = d.ShortHorizon
	}
	if c.CalibrationHorizon <= 1 {
		c.CalibrationHorizon = d.CalibrationHorizon
	}
	if c.SeasonBuckets <= 0 {
		c.SeasonBuckets = d.SeasonBuckets
	}
	if c.LikelihoodShort <= 0 {
		c.LikelihoodShort = d.LikelihoodShort
	}
	if c.RawCap <= 0 {
		c.RawCap = d.RawCap
	}
	if c.Prior <= 0 {
		c.Prior = d.Prior
	}
	if c.ScoreScale <= 0 {
		c.ScoreScale = d.ScoreScale
	}
	return c
}

// Kind names what made a point surprising.
type Kind uint8

const (
	KindNone Kind = iota
	KindSpike
	KindChange
	KindShift
)

func (k Kind) String() string {
	switch k {
	case KindSpike:
		return "spike"
	case KindChange:
		return "jump"
	case KindShift:
		return "level shift"
	}
	return "none"
}

// Result is the detector's verdict on one point.
type Result struct {
	Warm     bool    // false while warming up: Score is meaningless, abstain
	Score    float64 // 0..1 calibrated surprise
	P        float64 // calibrated tail probability of a point this surprising on this series
	Z        float64 // signed robust z of the deciding signal
	Kind     Kind
	Value    float64
	Baseline float64 // expected value (seasonal when seasonality is in use)
	Sigma    float64 // robust sigma of the baseline
	Seasonal bool    // the baseline was the time-of-day profile
	Floored  bool    // sigma was the outside floor (SetMinSigma), not the series' own spread
	Horizon  time.Duration
}

// ewm is an EWMA of level and absolute deviation, optionally winsorised.
type ewm struct {
	mean, dev float64
}

const madToSigma = 1.2533 // mean absolute deviation of a Gaussian is sigma*sqrt(2/pi)

const nBins = 100 // surprise histogram: bins of a quarter octave of 1+r, r = -log10(p)

func histBin(r float64) int {
	b := 0
	for b < nBins-1 && r >= binEdges[b+1] {
		b++
	}
	return b
}

// binEdges[k] is the lowest surprise of bin k: 2^(k/4) - 1.
var binEdges = func() [nBins]float64 {
	var e [nBins]float64
	for k := range e {
		e[k] = math.Pow(2, float64(k)/4) - 1
	}
	return e
}()

// Detector follows one series. The zero value is not ready: use NewDetector.
type Detector struct {
	// cfg is shared, read-only: a layer's detectors all point at its configuration (a copy in
	// each would be 120 bytes more to clear and write per new series).
	cfg        *Config
	n          int
	alpha      float64
	alphaS     float64
	alphaC     float64
	level      ewm
	diff       ewm
	short      float64
	prev       float64
	lastT      time.Time
	dt         float64 // EWMA of the sampling interval, seconds
	season     []ewm
	seasonN    []uint32
	errFlat    float64 // EWMA of |x - flat baseline| before the update
	errSeason  float64 // EWMA of |x - seasonal baseline| before the update
	visitB     int     // bucket of the current visit
	visitDay   int64
	visitSum   float64
	visitN     int
	visitMaxRC float64         // highest calibrated surprise in the current visit
	seasonPeak []float64       // per bucket: decayed daily maximum of calibrated surprise
	hist       *[nBins]float64 // Fenwick tree over the surprise bins (decayed weights)
	// ready: hist is cleared for this series; seasonReady: the seasonal buffers are. hist is
	// first used at the second point, the seasonal buffers when the first time-of-day visit
	// ends (read as zeros until then), so a new or recycled detector prepares them then: a series
	// that never gets a second point (a process seen in one window) costs no clearing.
	ready       bool
	seasonReady bool
	histTotal   float64
	histWeight  float64
	avgRaw      float64 // short EWMA of capped raw surprise
	likMean     float64 // long EWMA of avgRaw
	likVar      float64
	likN        int
	peak        float64
	peakDecay   float64
	wasSeasonal bool
	integral    bool     // every value so far was an integer
	minSigma    float64  // outside floor on sigma (SetMinSigma)
	pop         popState // the layer's population prior while this series warms up
}

// modelSwitchKeep is the weight past surprises keep when the baseline switches between the
// flat and the seasonal model.
var modelSwitchKeep = 0.1

// NewDetector returns a detector for one series.
func NewDetector(cfg Config) *Detector {
	d := &Detector{}
	d.reset(cfg)
	return d
}

// reset makes d behave exactly as what NewDetector(cfg) returns, keeping its histogram and
// seasonal buffers to be cleared when first needed (prepare, prepareSeason; the layer recycles
// evicted detectors this way instead of allocating).
func (d *Detector) reset(cfg Config) {
	c := cfg.withDefaults()
	d.resetDefaulted(&c)
}

// resetDefaulted is reset of a configuration that already has its defaults (the layer's).
func (d *Detector) resetDefaulted(cfg *Config) {
	season, seasonN, seasonPeak, hist := d.season, d.seasonN, d.seasonPeak, d.hist
	oldRefractory, oldDecay, wasInit := 0, d.peakDecay, d.alpha != 0
	if d.cfg != nil {
		oldRefractory = d.cfg.Refractory
	}
	*d = Detector{} // cleared in place (a composite literal would be built, then copied)
	d.cfg = cfg
	d.alpha = 1 / float64(cfg.Horizon)
	d.alphaS = 1 / float64(cfg.ShortHorizon)
	d.alphaC = 1 / float64(cfg.CalibrationHorizon)
	d.histWeight = 1
	if cfg.Refractory > 0 {
		if wasInit && oldRefractory == cfg.Refractory { // recycled: the same decay, without math.Pow
			d.peakDecay = oldDecay
		} else {
			d.peakDecay = math.Pow(0.5, 1/float64(cfg.Refractory))
		}
	}
	d.season, d.seasonN, d.seasonPeak, d.hist = season, seasonN, seasonPeak, hist
}

// prepare clears (or allocates) the histogram before its first use, at the series' second point.
func (d *Detector) prepare() {
	d.ready = true
	if d.hist == nil {
		d.hist = new([nBins]float64)
	} else {
		clear(d.hist[:])
	}
}

// prepareSeason clears (or allocates) the seasonal buffers before their first write, when the
// first time-of-day visit ends; until then every bucket has no days (seasonDays).
func (d *Detector) prepareSeason() {
	d.seasonReady = true
	n := d.cfg.SeasonBuckets
	if cap(d.season) >= n && cap(d.seasonN) >= n && cap(d.seasonPeak) >= n {
		d.season, d.seasonN, d.seasonPeak = d.season[:n], d.seasonN[:n], d.seasonPeak[:n]
		clear(d.season)
		clear(d.seasonN)
		clear(d.seasonPeak)
	} else {
		d.season = make([]ewm, n)
		d.seasonN = make([]uint32, n)
		d.seasonPeak = make([]float64, n)
	}
}

// N is the number of points seen.
func (d *Detector) N() int { return d.n }

// gaussSurprise is -log10 of the two-sided Gaussian tail probability of z (|z| capped at zCap),
// read from a table with linear interpolation below 8 and from the
// asymptotic (Mills ratio) series above.
func gaussSurprise(z float64) float64 {
	z = math.Abs(z)
	if z < surpriseTableMax {
		u := z * surpriseTableStep
		i := int(u)
		f := u - float64(i)
		return surpriseTable[i] + f*(surpriseTable[i+1]-surpriseTable[i])
	}
	if z > zCap {
		z = zCap
	}
	z2 := z * z
	// 2Q(z) ~ 2 phi(z)/z * (1 - 1/z^2 + 3/z^4)
	return (z2/2 + math.Log(z) + 0.5*math.Log(2*math.Pi) - math.Ln2 - math.Log1p(-1/z2+3/(z2*z2))) / math.Ln10
}

const (
	surpriseTableMax  = 8.0
	surpriseTableStep = 256.0 // entries per unit of z
)

var surpriseTable = func() []float64 {
	n := int(surpriseTableMax*surpriseTableStep) + 2
	t := make([]float64, n)
	for i := range t {
		t[i] = -math.Log10(math.Erfc(float64(i) / surpriseTableStep / math.Sqrt2))
	}
	return t
}()

// zCap bounds |z| so a deviation from a constant series stays finite.
var zCap = 1e4

const warmCap = 6.2 // -log10 of the two-sided Gaussian tail at 5σ

// scaleFloor is the smallest sigma a baseline may have: a relative resolution of its level,
// and half a unit for series that have only ever taken integer values (counts, fds, threads),
// whose resolution is one.
func (d *Detector) scaleFloor(level float64) float64 {
	f := d0floor(level)
	if d.integral && f < 0.5 {
		f = 0.5
	}
	if d.minSigma > f {
		f = d.minSigma
	}
	return f
}

// SetMinSigma sets an outside lower bound on this series' sigma (the layer passes a fraction of
// the typical deviation of the same feature across keys, so a process idle at exactly 0 is not
// infinitely surprised by its first blip).
func (d *Detector) SetMinSigma(s float64) {
	if s >= 0 && !math.IsInf(s, 0) {
		d.minSigma = s
	}
}

// Baseline is the current flat baseline level.
func (d *Detector) Baseline() float64 { return d.level.mean }

func d0floor(level float64) float64 { return 1e-12 + floorRel*math.Abs(level) }

// floorRel keeps sigma above a relative resolution so a constant series does not make every
// change infinitely surprising.
var floorRel = 1e-6

// Update scores x observed at t, then learns from it.
func (d *Detector) Update(t time.Time, x float64) Result {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return Result{Value: x}
	}
	res := Result{Value: x}
	d.n++
	if d.n == 1 {
		d.integral = true
	}
	if d.integral && x != math.Trunc(x) {
		d.integral = false
	}
	if d.n > 1 {
		if dt := t.Sub(d.lastT).Seconds(); dt > 0 {
			if d.dt == 0 {
				d.dt = dt
			} else {
				d.dt += 0.05 * (dt - d.dt)
			}
		}
	}
	d.lastT = t
	if !d.ready && d.n >= 2 {
		d.prepare()
	}
	if d.n == 1 {
		d.level = ewm{mean: x}
		d.short = x
		d.prev = x
		d.learnSeason(t, x)
		return res
	}

	// Expected value: the seasonal profile when it has been the better predictor.
	base, sigma := d.level.mean, math.Max(d.level.dev*madToSigma, d.scaleFloor(d.level.mean))
	var b int
	seasonal := false
	if d.cfg.Seasonal {
		b = d.bucket(t)
		if d.seasonDays(b) >= minSeasonDays && d.errSeason < 0.8*d.errFlat {
			seasonal = true
			base = d.season[b].mean
			sigma = math.Max(d.errSeason*madToSigma, d.scaleFloor(base))
		}
	}
	if seasonal != d.wasSeasonal {
		// The model changed: surprises measured under the old one say little about the new.
		d.wasSeasonal = seasonal
		for i := range d.hist {
			d.hist[i] *= modelSwitchKeep
		}
		d.histTotal *= modelSwitchKeep
	}
	zLevel := (x - base) / sigma
	dx := x - d.prev
	shortNext := d.short + d.alphaS*(x-d.short)

	r, z, kind := gaussSurprise(zLevel), zLevel, KindSpike
	if d.cfg.Jump { // the signals' surprises only when they are on (they have no side effects)
		dsig := math.Max(d.diff.dev*madToSigma, d.scaleFloor(d.level.mean))
		zDiff := (dx - d.diff.mean) / dsig
		if s := gaussSurprise(zDiff); s > r {
			r, z, kind = s, zDiff, KindChange
		}
	}
	if d.cfg.Shift {
		shortSigma := sigma * math.Sqrt(d.alphaS/(2-d.alphaS))
		zShift := (shortNext - base) / shortSigma
		if s := gaussSurprise(zShift); s > r {
			r, z, kind = s, zShift, KindShift
		}
	}

	if d.n > d.cfg.Warmup {
		var p float64
		if d.cfg.Likelihood {
			p = d.likelihood(r)
		} else {
			p = d.calibrated(r)
		}
		novel := -math.Log10(p)
		rc := novel
		if d.cfg.Seasonal {
			if rc <= d.seasonPeakNear(t) {
				// This time of day has been this surprising on recent days (a nightly job).
				novel *= d.cfg.Damp
			}
			d.visitMaxRC = math.Max(d.visitMaxRC, rc)
		}
		if d.peakDecay > 0 {
			if rc <= d.peak {
				novel *= d.cfg.Damp
			}
			d.peak = math.Max(rc, d.peak*d.peakDecay)
		}
		res.Warm = true
		res.P = p
		res.Score = novel / (novel + d.cfg.ScoreScale)
		res.Z, res.Kind = z, kind
		res.Baseline, res.Sigma, res.Seasonal = base, sigma, seasonal
		res.Floored = d.minSigma > 0 && sigma <= d.minSigma
		res.Horizon = time.Duration(d.dt * float64(min(d.n, d.cfg.Horizon)) * float64(time.Second))
	}

	// Learn. Surprises while the baseline is young are capped (at ~5σ) so they teach the
	// calibration that early points are unreliable without making later extremes look common.
	if d.n <= d.cfg.Warmup {
		d.learnHist(math.Min(r, warmCap))
	} else {
		d.learnHist(r)
	}
	if d.cfg.Seasonal {
		d.errFlat += d.rate(d.cfg.Horizon) * (math.Abs(x-d.level.mean) - d.errFlat)
		if d.seasonDays(b) >= minSeasonDays {
			d.errSeason += d.rate(d.cfg.Horizon) * (math.Abs(x-d.season[b].mean) - d.errSeason)
		} else {
			d.errSeason += d.rate(d.cfg.Horizon) * (math.Abs(x-d.level.mean) - d.errSeason)
		}
		d.learnSeason(t, x)
	}
	d.level.update(x, d.rate(d.cfg.Horizon), d.cfg.Clip)
	if d.n == 2 {
		d.diff = ewm{mean: 0, dev: math.Abs(dx)}
	} else {
		d.diff.update(dx, d.rate(d.cfg.Horizon), d.cfg.Clip)
	}
	d.short = shortNext
	d.prev = x
	return res
}

// rate is the EWMA rate for a memory of h points, faster while the series is young.
func (d *Detector) rate(h int) float64 {
	if d.n < h {
		return 1 / float64(d.n)
	}
	return 1 / float64(h)
}

func (e *ewm) update(x, a, clip float64) {
	dev := e.dev * madToSigma
	xc := x
	if dev > 0 && clip > 0 {
		xc = math.Max(e.mean-clip*dev, math.Min(e.mean+clip*dev, x))
	}
	e.mean += a * (xc - e.mean)
	e.dev += a * (math.Abs(xc-e.mean) - e.dev)
}

func (d *Detector) bucket(t time.Time) int {
	sec := t.Unix() % 86400 // UTC time of day
	if sec < 0 {
		sec += 86400
	}
	return int(sec) * d.cfg.SeasonBuckets / 86400
}

// learnSeason accumulates the current visit of a time-of-day bucket (the points of one day
// inside it) and folds the visit's mean into the bucket when the visit ends, so each bucket
// learns across days rather than following the last few points.
func (d *Detector) learnSeason(t time.Time, x float64) {
	if !d.cfg.Seasonal {
		return
	}
	b, day := d.bucket(t), t.Unix()/86400
	if d.visitN > 0 && (b != d.visitB || day != d.visitDay) {
		d.foldVisit()
	}
	d.visitB, d.visitDay = b, day
	d.visitSum += x
	d.visitN++
}

// seasonDays is the number of days bucket b has learnt.
func (d *Detector) seasonDays(b int) uint32 {
	if !d.seasonReady {
		return 0
	}
	return d.seasonN[b]
}

func (d *Detector) foldVisit() {
	if !d.seasonReady {
		d.prepareSeason()
	}
	b, v := d.visitB, d.visitSum/float64(d.visitN)
	d.seasonPeak[b] = math.Max(d.visitMaxRC, d.seasonPeak[b]*seasonPeakDecay)
	d.visitSum, d.visitN, d.visitMaxRC = 0, 0, 0
	d.seasonN[b]++
	if d.seasonN[b] == 1 {
		d.season[b] = ewm{mean: v}
		return
	}
	a := math.Max(1/float64(d.seasonN[b]), seasonRate)
	d.season[b].mean += a * (v - d.season[b].mean)
}

// seasonPeakDecay is how much of a bucket's peak surprise survives each day it is not renewed.
var seasonPeakDecay = 0.7

// seasonPeakNear is the highest recent daily peak surprise of t's bucket and its neighbours
// (jobs drift by minutes), from buckets with at least minSeasonDays days.
func (d *Detector) seasonPeakNear(t time.Time) float64 {
	if !d.seasonReady {
		return 0
	}
	b, nb := d.bucket(t), len(d.season)
	m := 0.0
	for _, k := range [3]int{(b + nb - 1) % nb, b, (b + 1) % nb} {
		if d.seasonN[k] >= minSeasonDays && d.seasonPeak[k] > m {
			m = d.seasonPeak[k]
		}
	}
	return m
}

// seasonRate is the slowest rate at which a time-of-day bucket follows new days.
const seasonRate = 0.2

// minSeasonDays is how many days a bucket needs before it is used.
var minSeasonDays uint32 = 2

// likelihood returns the upper tail probability of the short average of raw surprise under
// the long-run Gaussian fitted to it, then learns.
func (d *Detector) likelihood(r float64) float64 {
	a := math.Min(r, d.cfg.RawCap) / d.cfg.RawCap
	d.avgRaw += (a - d.avgRaw) / float64(d.cfg.LikelihoodShort)
	p := 0.5
	if d.likN > 10 {
		sd := math.Sqrt(d.likVar)
		if sd < 0.005 {
			sd = 0.005
		}
		z := (d.avgRaw - d.likMean) / sd
		p = 0.5 * math.Erfc(z/math.Sqrt2)
		if p < 1e-300 {
			p = 1e-300
		}
	}
	d.likN++
	k := 1 / float64(d.likN)
	if d.likN > d.cfg.CalibrationHorizon {
		k = 1 / float64(d.cfg.CalibrationHorizon)
	}
	diff := d.avgRaw - d.likMean
	d.likMean += k * diff
	d.likVar = (1 - k) * (d.likVar + k*diff*diff)
	return p
}

// calibrated returns the tail probability of a surprise r on this series: the Gaussian tail
// 10^-r blended with how often this series has shown surprises at least that large.
func (d *Detector) calibrated(r float64) float64 {
	bin := histBin(r)
	// hist is a Fenwick tree: the weight of bins at or above bin is the total less the prefix.
	below := 0.0
	for i := bin; i > 0; i &= i - 1 {
		below += d.hist[i-1]
	}
	exceed := math.Max(d.histTotal-below, 0)
	// Prior: CalibrationHorizon pseudo-points that follow the Gaussian tail.
	w := d.cfg.Prior
	total := d.histTotal
	exceed /= d.histWeight
	total /= d.histWeight
	return math.Max((exceed+w*math.Exp(-r*math.Ln10))/(total+w), 1e-300)
}

func (d *Detector) learnHist(r float64) {
	bin := histBin(r)
	// Lazy decay: weights grow by 1/(1-alpha) per point; renormalise before overflow.
	d.histWeight /= 1 - d.alphaC
	for i := bin + 1; i <= nBins; i += i & -i {
		d.hist[i-1] += d.histWeight
	}
	d.histTotal += d.histWeight
	if d.histWeight > 1e100 {
		for i := range d.hist {
			d.hist[i] /= d.histWeight
		}
		d.histTotal /= d.histWeight
		d.histWeight = 1
	}
}

// relChange is |value - baseline| relative to the baseline's magnitude and spread.
func (r Result) relChange() float64 {
	return math.Abs(r.Value-r.Baseline) / (math.Abs(r.Baseline) + r.Sigma)
}

// Reason is a sentence a person can read, e.g.
// "cpu.user 94 is 6.2 robust σ above its 1h baseline 12 ± 3 (spike, p=1e-9)".
func (r Result) Reason(name string) string {
	dir := "above"
	z := r.Z
	if z < 0 {
		dir, z = "below", -z
	}
	base := "baseline"
	if r.Seasonal {
		base = "time-of-day baseline"
	}
	if r.Sigma <= 2*d0floor(r.Baseline) { // sigma at the relative floor: the series was constant
		return fmt.Sprintf("%s %s departs from its constant %s %s %s (%s, p=%.1e)",
			name, fmtNum(r.Value), fmtDur(r.Horizon), base, fmtNum(r.Baseline), r.Kind, r.P)
	}
	if r.Floored {
		return fmt.Sprintf("%s %s is %.1f σ %s its nearly constant %s %s %s (σ %s, from the feature's spread on other keys; %s, p=%.1e)",
			name, fmtNum(r.Value), z, dir, fmtDur(r.Horizon), base, fmtNum(r.Baseline), fmtNum(r.Sigma), r.Kind, r.P)
	}
	return fmt.Sprintf("%s %s is %.1f robust σ %s its %s %s %s ± %s (%s, p=%.1e)",
		name, fmtNum(r.Value), z, dir, fmtDur(r.Horizon), base, fmtNum(r.Baseline), fmtNum(r.Sigma), r.Kind, r.P)
}

func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return fmt.Sprintf("%.3gG", v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.3gk", v/1e3)
	}
	return fmt.Sprintf("%.3g", v)
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "recent"
	case d >= 24*time.Hour:
		return fmt.Sprintf("%.0fd", d.Hours()/24)
	case d >= time.Hour:
		return fmt.Sprintf("%.0fh", d.Hours())
	case d >= time.Minute:
		return fmt.Sprintf("%.0fm", d.Minutes())
	}
	return fmt.Sprintf("%.0fs", d.Seconds())
}

// Score scores one point: the calibrated score once warm, 0 while warming up (NAB's harness
// needs a number on every row; the pipeline abstains instead).
func (d *Detector) Score(t time.Time, x float64) float64 {
	r := d.Update(t, x)
	if !r.Warm {
		return 0
	}
	return r.Score
}
