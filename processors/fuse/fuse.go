// Package fuse combines the detection layers' results about one entity into one scored alert.
//
// Each layer (geometric, temporal, iforest) says 0..1 or abstains. A missing or abstaining layer
// never counts as 0: the configured weights are renormalised over the layers that spoke. When two
// or more layers agree (each above AgreementThreshold) the score moves towards their noisy-OR, and
// a rule of a floored Sigma level (critical by default) is enough on its own. Layers report at
// different event times (a rule at exec time, statistics when a window closes): results for the
// same host and entity key within OpenFor of each other fold into one open alert, which keeps its
// id and records every change of score in its history.
//
// Everything here works on event time: the Fuser has no clock but the times on its inputs, so a
// replay gives the same alerts, ids included, whatever the batch boundaries.
package fuse

import (
	"cmp"
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/amoskys/amoskys/schemas"
)

// Thresholds map a fused score to a severity: score >= Critical is CRITICAL, and so on down to Low.
type Thresholds struct {
	Low      float64 `yaml:"low"`
	Medium   float64 `yaml:"medium"`
	High     float64 `yaml:"high"`
	Critical float64 `yaml:"critical"`
}

// Config tunes the fusion. Zero values are replaced by DefaultConfig's.
type Config struct {
	// Weights per layer name; a layer absent from the map has weight 1.
	Weights map[string]float64
	// Thresholds for the severities.
	Thresholds Thresholds
	// MinScore: fused scores below it raise no alert (the state is kept, a later layer may lift it).
	MinScore float64
	// AgreementThreshold: a layer agrees when its score is at least this.
	AgreementThreshold float64
	// AgreementBonus 0..1: with two or more agreeing layers the score moves this fraction of the way
	// from the weighted mean to the noisy-OR of the present layers.
	AgreementBonus float64
	// LevelFloors: a reason whose Sigma level is a key lifts the fused score to at least the value
	// (critical: 0.95 makes a CRITICAL rule enough on its own).
	LevelFloors map[string]float64
	// SoloCaps: when only this layer spoke, the fused score is at most the value (statistics
	// alone stay below CRITICAL: that takes agreement or a critical rule).
	SoloCaps map[string]float64
	// OpenFor: an alert accepts later results for this long after its last result, in event time.
	OpenFor time.Duration
	// MaxOpen caps the entities held; the least recently updated goes first.
	MaxOpen int
	// MaxReasons caps the reasons kept per layer, MaxEvidence the evidence ids per alert.
	MaxReasons  int
	MaxEvidence int
}

// DefaultConfig is the configuration the plugin starts from.
func DefaultConfig() Config {
	return Config{
		Weights: map[string]float64{
			schemas.LayerGeometric: 0.5,
			schemas.LayerTemporal:  0.25,
			schemas.LayerIForest:   0.25,
		},
		Thresholds:         Thresholds{Low: 0.3, Medium: 0.5, High: 0.7, Critical: 0.9},
		MinScore:           0.3,
		AgreementThreshold: 0.5,
		AgreementBonus:     0.5,
		LevelFloors:        map[string]float64{"critical": 0.95, "high": 0.7, "medium": 0.5},
		SoloCaps:           map[string]float64{schemas.LayerTemporal: 0.85, schemas.LayerIForest: 0.85},
		OpenFor:            10 * time.Minute,
		MaxOpen:            100000,
		MaxReasons:         8,
		MaxEvidence:        32,
	}
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []string
	for l, w := range c.Weights {
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			errs = append(errs, fmt.Sprintf("weights.%s: %v must be a finite number >= 0", l, w))
		}
	}
	t := c.Thresholds
	if !(0 <= t.Low && t.Low <= t.Medium && t.Medium <= t.High && t.High <= t.Critical && t.Critical <= 1) {
		errs = append(errs, fmt.Sprintf("thresholds: need 0 <= low <= medium <= high <= critical <= 1, got %v/%v/%v/%v",
			t.Low, t.Medium, t.High, t.Critical))
	}
	in01 := func(name string, v float64) {
		if v < 0 || v > 1 || math.IsNaN(v) {
			errs = append(errs, fmt.Sprintf("%s: %v must be within 0..1", name, v))
		}
	}
	in01("min_score", c.MinScore)
	in01("agreement_threshold", c.AgreementThreshold)
	in01("agreement_bonus", c.AgreementBonus)
	for l, v := range c.LevelFloors {
		in01("level_floors."+l, v)
	}
	for l, v := range c.SoloCaps {
		in01("solo_caps."+l, v)
	}
	if c.OpenFor <= 0 {
		errs = append(errs, "open_for: must be > 0")
	}
	if c.MaxOpen <= 0 {
		errs = append(errs, "max_open: must be > 0")
	}
	if len(errs) > 0 {
		return fmt.Errorf("fuse config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Severity maps a fused score to a severity; ok is false below Thresholds.Low.
func (c Config) Severity(score float64) (schemas.Severity, bool) {
	switch t := c.Thresholds; {
	case score >= t.Critical:
		return schemas.SeverityCritical, true
	case score >= t.High:
		return schemas.SeverityHigh, true
	case score >= t.Medium:
		return schemas.SeverityMedium, true
	case score >= t.Low:
		return schemas.SeverityLow, true
	}
	return "", false
}

// Input is what one message says: the layer results attached to it and what it is about.
type Input struct {
	Time        time.Time // event time
	Host        string
	EntityKey   string // stable key of the entity (proc:PID@START, host, if:eth0, ...)
	Entity      string // human name: process name or exe, interface, device, metric
	EntityKind  string // process | device | metric | host
	EvidenceIDs []string
	Layers      []schemas.LayerResult
}

// Score is the fusion of a set of layer results.
type Score struct {
	Score     float64
	Severity  schemas.Severity // empty below Thresholds.Low
	Breakdown []schemas.LayerBreakdown
	Agreeing  int // layers at or above AgreementThreshold
}

// Combine fuses results, at most one per layer (the caller keeps the strongest), into a score.
// Layers with a nil Score abstain: they appear in the breakdown with weight 0.
func (c Config) Combine(results []schemas.LayerResult) Score {
	out := Score{Breakdown: make([]schemas.LayerBreakdown, 0, len(results))}
	var wsum, wmean, prodNot, floor float64
	prodNot = 1
	present := 0
	solo := ""
	for _, r := range results {
		b := schemas.LayerBreakdown{Layer: r.Layer, Abstain: r.Abstain, Reasons: r.Reasons}
		if r.Score != nil {
			s := clamp01(*r.Score)
			b.Score = &s
			b.Weight = c.weight(r.Layer)
			wsum += b.Weight
			wmean += b.Weight * s
			prodNot *= 1 - s
			present++
			solo = r.Layer
			if s >= c.AgreementThreshold && s > 0 {
				out.Agreeing++
			}
			for _, rs := range r.Reasons {
				if f, ok := c.LevelFloors[strings.ToLower(rs.Level)]; ok && f > floor {
					floor = f
				}
			}
		} else if b.Abstain == "" {
			b.Abstain = "no result"
		}
		out.Breakdown = append(out.Breakdown, b)
	}
	if present == 0 {
		return out
	}
	var score float64
	if wsum > 0 {
		score = wmean / wsum
	}
	if out.Agreeing >= 2 {
		noisyOR := 1 - prodNot
		if noisyOR > score {
			score += c.AgreementBonus * (noisyOR - score)
		}
	}
	if cap, ok := c.SoloCaps[solo]; ok && present == 1 && score > cap {
		score = cap
	}
	if floor > score {
		score = floor
	}
	score = clamp01(score)
	out.Score = round6(score)
	out.Severity, _ = c.Severity(out.Score)
	// Contributions share the final score in proportion to weight x score, so they add up to it.
	for i := range out.Breakdown {
		b := &out.Breakdown[i]
		if b.Score == nil {
			continue
		}
		if wsum > 0 {
			b.Weight = round6(b.Weight / wsum)
		}
		if wmean > 0 {
			b.Contribution = round6(out.Score * b.Weight * *b.Score * wsum / wmean)
		}
	}
	return out
}

func (c Config) weight(layer string) float64 {
	if w, ok := c.Weights[layer]; ok {
		return w
	}
	return 1
}

func clamp01(v float64) float64 {
	switch {
	case math.IsNaN(v) || v < 0:
		return 0
	case v > 1:
		return 1
	}
	return v
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// open is the state kept for one host and entity key.
type open struct {
	key      openKey
	id       string // empty until the first emission
	alert    schemas.AlertEvent
	layers   map[string]schemas.LayerResult // strongest result per layer
	lastSeen time.Time
	elem     *list.Element
}

// openKey is an entity: a struct, so that a lookup builds no string.
type openKey struct{ host, entity string }

// Fuser folds inputs into open alerts. Not safe for concurrent use: the plugin serialises calls.
type Fuser struct {
	cfg       Config
	open      map[openKey]*open
	lru       *list.List // of *open, least recently updated first
	watermark time.Time
	evicted   int64
	expired   int64
	results   []schemas.LayerResult // Process's scratch
}

// New returns a Fuser; cfg zero fields take DefaultConfig's values.
func New(cfg Config) (*Fuser, error) {
	d := DefaultConfig()
	if cfg.Weights == nil {
		cfg.Weights = d.Weights
	}
	if cfg.Thresholds == (Thresholds{}) {
		cfg.Thresholds = d.Thresholds
	}
	if cfg.LevelFloors == nil {
		cfg.LevelFloors = d.LevelFloors
	}
	if cfg.SoloCaps == nil {
		cfg.SoloCaps = d.SoloCaps
	}
	if cfg.OpenFor == 0 {
		cfg.OpenFor = d.OpenFor
	}
	if cfg.MaxOpen == 0 {
		cfg.MaxOpen = d.MaxOpen
	}
	if cfg.MaxReasons == 0 {
		cfg.MaxReasons = d.MaxReasons
	}
	if cfg.MaxEvidence == 0 {
		cfg.MaxEvidence = d.MaxEvidence
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Fuser{cfg: cfg, open: map[openKey]*open{}, lru: list.New()}, nil
}

// Open returns how many entities are held.
func (f *Fuser) Open() int { return len(f.open) }

// Dropped returns how many entities left the state by the MaxOpen cap and by expiry.
func (f *Fuser) Dropped() (evicted, expired int64) { return f.evicted, f.expired }

// Process folds in into its entity's open alert and returns the alert when it is at or above
// MinScore (a new alert, or an update of the open one with the same id). The returned value is a
// copy the caller may keep.
func (f *Fuser) Process(in Input) (*schemas.AlertEvent, bool) {
	o := f.advance(in.Time, in.Host, in.EntityKey)
	key := openKey{in.Host, in.EntityKey}
	if o == nil {
		if !Spoke(in.Layers) {
			return nil, false
		}
		o = &open{key: key, layers: map[string]schemas.LayerResult{}, lastSeen: in.Time}
		o.alert = schemas.AlertEvent{
			SchemaVersion: schemas.AlertVersion, Host: in.Host, EntityKind: in.EntityKind,
			Entity: in.Entity, EntityKey: in.EntityKey, FirstSeen: in.Time, Status: schemas.StatusOpen,
		}
		o.elem = f.lru.PushBack(o)
		f.open[key] = o
		for len(f.open) > f.cfg.MaxOpen {
			f.drop(f.lru.Front().Value.(*open))
			f.evicted++
		}
	} else {
		f.lru.MoveToBack(o.elem)
	}
	if in.Time.After(o.lastSeen) {
		o.lastSeen = in.Time
	}
	if in.Time.Before(o.alert.FirstSeen) {
		o.alert.FirstSeen = in.Time
	}
	if o.alert.Entity == "" {
		o.alert.Entity = in.Entity
	}
	// A layer that spoke before speaking again is a repeat (count rises); a layer joining is a
	// re-score of the same occurrence (count stays).
	repeat := o.alert.Count == 0
	for _, r := range in.Layers {
		if old, had := o.layers[r.Layer]; had && old.Score != nil && r.Score != nil {
			repeat = true
		}
	}
	changedLayer := ""
	for _, r := range in.Layers {
		if f.merge(o, r) {
			changedLayer = r.Layer
		}
	}
	o.alert.EvidenceIDs = appendUnique(o.alert.EvidenceIDs, in.EvidenceIDs, f.cfg.MaxEvidence)
	if repeat {
		o.alert.Count++
	}

	// The entity's results in Fuser's scratch slice: nothing keeps them past this call (Combine,
	// tags and describe copy what they keep), so no slice is allocated per input.
	results := f.results[:0]
	for _, r := range o.layers {
		results = append(results, r)
	}
	defer func() { clear(results); f.results = results[:0] }()
	slices.SortFunc(results, func(a, b schemas.LayerResult) int { // by layer; unknown layers by name
		if c := cmp.Compare(layerOrder(a.Layer), layerOrder(b.Layer)); c != 0 {
			return c
		}
		return strings.Compare(a.Layer, b.Layer)
	})
	sc := f.cfg.Combine(results)
	if sc.Score < f.cfg.MinScore || sc.Severity == "" {
		return nil, false
	}
	a := &o.alert
	a.Time = o.lastSeen
	a.LastSeen = o.lastSeen
	if o.id == "" {
		o.id = alertID(in.Host, in.EntityKey, a.FirstSeen)
		a.ID = o.id
		changedLayer = firstSpoke(results)
	}
	if a.Score != sc.Score || a.Severity != sc.Severity {
		a.History = append(a.History, schemas.ScoreChange{Time: in.Time, Score: sc.Score, Severity: sc.Severity, Layer: changedLayer})
		if len(a.History) > 2*f.cfg.MaxReasons {
			a.History = append(a.History[:1], a.History[len(a.History)-2*f.cfg.MaxReasons+1:]...)
		}
	}
	a.Score, a.Severity, a.Layers = sc.Score, sc.Severity, sc.Breakdown
	a.Tags = tags(results)
	a.Title, a.Summary = describe(a, results)
	return clone(a), true
}

// advance moves the watermark to t, expires what it leaves behind, and returns the open alert
// of host and key (nil when none, or when it was out of its window: then dropped).
func (f *Fuser) advance(t time.Time, host, key string) *open {
	if t.After(f.watermark) {
		f.watermark = t
	}
	f.expire()
	o := f.open[openKey{host, key}]
	if o != nil && t.Sub(o.lastSeen) > f.cfg.OpenFor {
		f.drop(o) // out of its window (late input after a long gap): a new alert
		f.expired++
		o = nil
	}
	return o
}

// Holds does what Process does with an input at time t about host and key in which no layer
// spoke, short of the alert: it advances the event time and reports whether an open alert would
// take the input. When it is false, Process would return no alert and change nothing more, so
// the caller need not build the input's evidence.
func (f *Fuser) Holds(t time.Time, host, key string) bool {
	return f.advance(t, host, key) != nil
}

// Spoke says whether any of rs has a score (did not abstain).
func Spoke(rs []schemas.LayerResult) bool {
	for i := range rs {
		if rs[i].Score != nil {
			return true
		}
	}
	return false
}

// merge keeps the strongest result per layer, with the reasons of both; it reports a change.
func (f *Fuser) merge(o *open, r schemas.LayerResult) bool {
	old, had := o.layers[r.Layer]
	if !had {
		r.Reasons = capReasons(r.Reasons, f.cfg.MaxReasons)
		o.layers[r.Layer] = r
		return r.Score != nil
	}
	switch {
	case r.Score == nil:
		return false // an abstention never overrides what the layer said before
	case old.Score == nil || *r.Score > *old.Score:
		r.Reasons = mergeReasons(r.Reasons, old.Reasons, f.cfg.MaxReasons)
		o.layers[r.Layer] = r
		return true
	default:
		n := mergeReasons(old.Reasons, r.Reasons, f.cfg.MaxReasons)
		grew := len(n) != len(old.Reasons)
		old.Reasons = n
		o.layers[r.Layer] = old
		return grew
	}
}

func (f *Fuser) expire() {
	for e := f.lru.Front(); e != nil; {
		o := e.Value.(*open)
		if f.watermark.Sub(o.lastSeen) <= f.cfg.OpenFor {
			return
		}
		e = e.Next()
		f.drop(o)
		f.expired++
	}
}

func (f *Fuser) drop(o *open) {
	f.lru.Remove(o.elem)
	delete(f.open, o.key)
}

// alertID is stable for an entity and the event time it was first seen: replays give the same ids.
func alertID(host, key string, first time.Time) string {
	h := sha256.Sum256([]byte(host + "\x00" + key + "\x00" + first.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(h[:10])
}

func layerOrder(l string) int {
	switch l {
	case schemas.LayerGeometric:
		return 0
	case schemas.LayerTemporal:
		return 1
	case schemas.LayerIForest:
		return 2
	}
	return 3
}

func firstSpoke(rs []schemas.LayerResult) string {
	for _, r := range rs {
		if r.Score != nil {
			return r.Layer
		}
	}
	return ""
}

func capReasons(rs []schemas.Reason, n int) []schemas.Reason {
	if len(rs) > n {
		return append([]schemas.Reason(nil), rs[:n]...)
	}
	return rs
}

func mergeReasons(a, b []schemas.Reason, n int) []schemas.Reason {
	out := make([]schemas.Reason, 0, min(len(a)+len(b), n))
	seen := map[string]bool{}
	for _, rs := range [][]schemas.Reason{a, b} {
		for _, r := range rs {
			if len(out) >= n || seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			out = append(out, r)
		}
	}
	return out
}

func appendUnique(dst, src []string, n int) []string {
	for _, s := range src {
		if len(dst) >= n {
			break
		}
		if s == "" || contains(dst, s) {
			continue
		}
		dst = append(dst, s)
	}
	return dst
}

func contains(ss []string, s string) bool {
	for _, v := range ss {
		if v == s {
			return true
		}
	}
	return false
}

func tags(rs []schemas.LayerResult) []string {
	var out []string
	for _, r := range rs {
		for _, rs := range r.Reasons {
			for _, t := range rs.Tags {
				if !contains(out, t) {
					out = append(out, t)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// describe writes the title from the strongest reason and a summary naming every layer that spoke.
func describe(a *schemas.AlertEvent, rs []schemas.LayerResult) (title, summary string) {
	var best *schemas.Reason
	// The summary, as fmt.Sprintf("%s score %.2f on %s: %s", severity, score, host, the layers'
	// lines joined by "; ") built it, without fmt.
	b := make([]byte, 0, 128)
	b = append(b, a.Severity...)
	b = append(b, " score "...)
	b = strconv.AppendFloat(b, a.Score, 'f', 2, 64)
	b = append(append(append(b, " on "...), a.Host...), ": "...)
	first := true
	for i := range rs {
		r := &rs[i]
		if r.Score == nil {
			continue
		}
		if !first {
			b = append(b, "; "...)
		}
		first = false
		b = append(append(b, r.Layer...), ' ')
		b = strconv.AppendFloat(b, *r.Score, 'f', 2, 64)
		if len(r.Reasons) > 0 {
			b = append(append(b, ": "...), firstNonEmpty(r.Reasons[0].Text, r.Reasons[0].Title, r.Reasons[0].ID)...)
		}
		for j := range r.Reasons {
			if best == nil || r.Reasons[j].Score > best.Score {
				best = &r.Reasons[j]
			}
		}
	}
	entity := firstNonEmpty(a.Entity, a.EntityKey)
	if best != nil {
		title = firstNonEmpty(best.Title, best.ID) + " on " + entity
	} else {
		title = "Anomaly on " + entity
	}
	return title, string(b)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// clone deep-copies the slices an emitted alert shares with the state.
func clone(a *schemas.AlertEvent) *schemas.AlertEvent {
	c := *a
	c.Layers = append([]schemas.LayerBreakdown(nil), a.Layers...)
	c.Tags = append([]string(nil), a.Tags...)
	c.EvidenceIDs = append([]string(nil), a.EvidenceIDs...)
	c.History = append([]schemas.ScoreChange(nil), a.History...)
	return &c
}
