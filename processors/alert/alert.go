// Package alert turns fused alerts into the alerts people see: one alert per host, entity and
// cause within a deduplication window (repeats raise its count instead of raising new alerts),
// exceptions and allow-lists applied, a lifecycle (open, acknowledged, resolved) kept, and memory
// bounded by a cap and event-time expiry.
//
// Input alerts come from fuse, whose ids are per entity key (a process instance). Alerts of the
// same host, human entity name (the executable) and cause fold into one: the first one's id stays.
package alert

import (
	"container/list"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/amoskys/amoskys/schemas"
)

// Exception suppresses alerts that match every field it sets.
type Exception struct {
	Name   string         // shown in logs and metrics
	Host   string         // exact host; empty matches any
	Entity *regexp.Regexp // on the entity name; nil matches any
	RuleID string         // a reason id of any layer; empty matches any
	// BelowSeverity: only alerts below this severity are suppressed; empty suppresses all.
	BelowSeverity schemas.Severity
}

// Matches reports whether the exception suppresses a.
func (e Exception) Matches(a *schemas.AlertEvent) bool {
	if e.Host != "" && e.Host != a.Host {
		return false
	}
	if e.Entity != nil && !e.Entity.MatchString(a.Entity) {
		return false
	}
	if e.RuleID != "" && !hasReason(a, e.RuleID) {
		return false
	}
	if e.BelowSeverity != "" && a.Severity.Rank() >= e.BelowSeverity.Rank() {
		return false
	}
	return true
}

func hasReason(a *schemas.AlertEvent, id string) bool {
	for _, l := range a.Layers {
		for _, r := range l.Reasons {
			if r.ID == id {
				return true
			}
		}
	}
	return false
}

// Config tunes deduplication and bounds.
type Config struct {
	// DedupWindow: a repeat within this (event time) of the alert's last sighting folds into it.
	DedupWindow time.Duration
	// MinSeverity: alerts below it are dropped.
	MinSeverity schemas.Severity
	// Exceptions suppress matching alerts.
	Exceptions []Exception
	// MaxAlerts caps the alerts held for deduplication (and MaxAlerts*4 the fused ids mapped to them).
	MaxAlerts int
	// UpdateInterval: an update that only raises the count is emitted at most this often per alert
	// (event time); changes of score, severity or status are always emitted. 0 emits every repeat.
	UpdateInterval time.Duration
	// MaxEvidence caps the evidence ids per alert.
	MaxEvidence int
}

// DefaultConfig is what the plugin starts from.
func DefaultConfig() Config {
	return Config{DedupWindow: time.Hour, MinSeverity: schemas.SeverityLow, MaxAlerts: 100000,
		UpdateInterval: 10 * time.Second, MaxEvidence: 32}
}

// Outcome says what Process did with an input.
type Outcome int

const (
	OutcomeNew        Outcome = iota // a new alert
	OutcomeUpdated                   // an update of an alert (re-score, repeat, status)
	OutcomeFolded                    // a repeat counted, its update held back by UpdateInterval
	OutcomeSuppressed                // matched an exception
	OutcomeBelowMin                  // below MinSeverity
	OutcomeInvalid                   // no id or host
)

func (o Outcome) String() string {
	return [...]string{"new", "updated", "folded", "suppressed", "below_min", "invalid"}[o]
}

type group struct {
	key      string
	alert    schemas.AlertEvent
	lastEmit time.Time
	elem     *list.Element
	dirty    bool // a folded repeat is not emitted yet
	// hist is the buffer (capacity maxHistory) the alert's merged history is written into: it
	// never leaves the group (emitted alerts are clones), so each merge reuses it.
	hist []schemas.ScoreChange
}

type member struct {
	id    string
	g     *group
	count int64
	elem  *list.Element
}

// Alerter deduplicates fused alerts. Not safe for concurrent use: the plugin serialises calls.
type Alerter struct {
	cfg       Config
	groups    map[string]*group // by host, entity, cause
	byID      map[string]*group // by alert id
	members   map[string]*member
	glru      *list.List
	mlru      *list.List
	watermark time.Time
	evicted   int64
	dirty     []*group // groups holding a folded repeat, flushed by Flush
}

// New returns an Alerter; zero fields of cfg take DefaultConfig's values.
func New(cfg Config) (*Alerter, error) {
	d := DefaultConfig()
	if cfg.DedupWindow == 0 {
		cfg.DedupWindow = d.DedupWindow
	}
	if cfg.MinSeverity == "" {
		cfg.MinSeverity = d.MinSeverity
	}
	if cfg.MaxAlerts == 0 {
		cfg.MaxAlerts = d.MaxAlerts
	}
	if cfg.MaxEvidence == 0 {
		cfg.MaxEvidence = d.MaxEvidence
	}
	var errs []string
	if cfg.DedupWindow < 0 {
		errs = append(errs, "dedup_window: must be > 0")
	}
	if cfg.MinSeverity.Rank() == 0 {
		errs = append(errs, fmt.Sprintf("min_severity: %q is not one of LOW, MEDIUM, HIGH, CRITICAL", cfg.MinSeverity))
	}
	if cfg.MaxAlerts < 0 || cfg.UpdateInterval < 0 {
		errs = append(errs, "max_alerts and update_interval: must be >= 0")
	}
	for i, e := range cfg.Exceptions {
		if e.BelowSeverity != "" && e.BelowSeverity.Rank() == 0 {
			errs = append(errs, fmt.Sprintf("exceptions[%d].below_severity: %q is not a severity", i, e.BelowSeverity))
		}
		if e.Host == "" && e.Entity == nil && e.RuleID == "" && e.BelowSeverity == "" {
			errs = append(errs, fmt.Sprintf("exceptions[%d]: matches every alert: set host, entity, rule_id or below_severity", i))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("alert config: %s", strings.Join(errs, "; "))
	}
	return &Alerter{cfg: cfg, groups: map[string]*group{}, byID: map[string]*group{},
		members: map[string]*member{}, glru: list.New(), mlru: list.New()}, nil
}

// Held returns how many alerts are held for deduplication.
func (a *Alerter) Held() int { return len(a.groups) }

// Evicted returns how many alerts left the state by the cap (not by expiry).
func (a *Alerter) Evicted() int64 { return a.evicted }

// Cause is what two alerts of the same host and entity must share to be one: the first reason of
// each layer that spoke, sorted.
func Cause(in *schemas.AlertEvent) string {
	var ids []string
	for _, l := range in.Layers {
		if l.Score == nil {
			continue
		}
		if len(l.Reasons) > 0 {
			ids = append(ids, l.Layer+":"+l.Reasons[0].ID)
		} else {
			ids = append(ids, l.Layer)
		}
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

// Process folds a fused alert in and returns the alert to emit, if any (a copy).
func (a *Alerter) Process(in *schemas.AlertEvent) (*schemas.AlertEvent, Outcome) {
	if in == nil || in.ID == "" || in.Host == "" {
		return nil, OutcomeInvalid
	}
	if in.LastSeen.IsZero() {
		in.LastSeen = in.Time
	}
	if in.FirstSeen.IsZero() {
		in.FirstSeen = in.Time
	}
	if in.LastSeen.After(a.watermark) {
		a.watermark = in.LastSeen
	}
	a.expire()
	for _, e := range a.cfg.Exceptions {
		if e.Matches(in) {
			return nil, OutcomeSuppressed
		}
	}
	if in.Severity.Rank() < a.cfg.MinSeverity.Rank() {
		return nil, OutcomeBelowMin
	}
	m := a.members[in.ID]
	if m != nil && m.g.elem == nil {
		a.dropMember(m) // its alert left the state
		m = nil
	}
	var g *group
	isNew := false
	if m != nil {
		g = m.g
	} else {
		cause := in.Cause
		if cause == "" {
			cause = Cause(in)
		}
		key := in.Host + "\x00" + in.Entity + "\x00" + cause
		g = a.groups[key]
		if g != nil && (g.alert.Status == schemas.StatusResolved || in.LastSeen.Sub(g.alert.LastSeen) > a.cfg.DedupWindow) {
			a.dropGroup(g) // a repeat after resolution or after the window is a new alert
			g = nil
		}
		if g == nil {
			g = &group{key: key, alert: schemas.AlertEvent{ID: in.ID, Cause: cause, Status: schemas.StatusOpen, FirstSeen: in.FirstSeen}}
			g.elem = a.glru.PushBack(g)
			a.groups[key] = g
			a.byID[in.ID] = g
			isNew = true
			for len(a.groups) > a.cfg.MaxAlerts {
				a.dropGroup(a.glru.Front().Value.(*group))
				a.evicted++
			}
		}
		m = &member{id: in.ID, g: g}
		m.elem = a.mlru.PushBack(m)
		a.members[in.ID] = m
		for len(a.members) > 4*a.cfg.MaxAlerts {
			a.dropMember(a.mlru.Front().Value.(*member))
		}
	}
	a.glru.MoveToBack(g.elem)
	a.mlru.MoveToBack(m.elem)

	cur := &g.alert
	prevScore, prevSev, prevLayers := cur.Score, cur.Severity, layerSet(cur.Layers)
	countDelta := max(in.Count, 1) - m.count
	if countDelta < 0 {
		countDelta = 0
	}
	m.count = max(in.Count, 1)
	// The originating fused alert, or a stronger one, speaks for the alert's content.
	if in.ID == cur.ID || in.Score >= cur.Score || isNew {
		keep := *cur
		*cur = *in
		cur.ID, cur.Cause, cur.Status, cur.StatusBy, cur.StatusAt = keep.ID, keep.Cause, keep.Status, keep.StatusBy, keep.StatusAt
		cur.Count, cur.Version, cur.EvidenceIDs = keep.Count, keep.Version, keep.EvidenceIDs
		cur.FirstSeen, cur.LastSeen = keep.FirstSeen, keep.LastSeen
		cur.Tags = mergeStrings(keep.Tags, in.Tags, 64)
		if in.ID != keep.ID { // the last maxHistory of both, in the group's own buffer
			kh, ih := keep.History, in.History
			if len(ih) > maxHistory {
				ih = ih[len(ih)-maxHistory:]
			}
			if len(kh)+len(ih) > maxHistory {
				kh = kh[len(kh)+len(ih)-maxHistory:]
			}
			if g.hist == nil {
				g.hist = make([]schemas.ScoreChange, 0, maxHistory)
			}
			// kh may lie further on in the same buffer (the last merge): copy moves it down
			// before ih is appended; ih is another alert's (an input's), never this buffer.
			h := g.hist[:len(kh)]
			copy(h, kh)
			cur.History = append(h, ih...)
		}
		if len(cur.History) > maxHistory {
			cur.History = cur.History[len(cur.History)-maxHistory:]
		}
	} else {
		cur.Tags = mergeStrings(cur.Tags, in.Tags, 64)
	}
	cur.Count += countDelta
	cur.EvidenceIDs = mergeStrings(cur.EvidenceIDs, in.EvidenceIDs, a.cfg.MaxEvidence)
	if in.FirstSeen.Before(cur.FirstSeen) {
		cur.FirstSeen = in.FirstSeen
	}
	if in.LastSeen.After(cur.LastSeen) {
		cur.LastSeen = in.LastSeen
	}
	cur.Time = cur.LastSeen
	cur.SchemaVersion = schemas.AlertVersion

	changed := isNew || cur.Score != prevScore || cur.Severity != prevSev || layerSet(cur.Layers) != prevLayers
	if !changed && a.cfg.UpdateInterval > 0 && cur.LastSeen.Sub(g.lastEmit) < a.cfg.UpdateInterval {
		if !g.dirty {
			g.dirty = true
			a.dirty = append(a.dirty, g)
		}
		return nil, OutcomeFolded
	}
	g.dirty = false
	g.lastEmit = cur.LastSeen
	cur.Version++
	out := clone(cur)
	if isNew {
		return out, OutcomeNew
	}
	return out, OutcomeUpdated
}

// Flush returns the alerts whose last repeats were folded and whose update_interval has passed in
// event time (the watermark), so a final count is never held back for good.
func (a *Alerter) Flush() []*schemas.AlertEvent {
	var out []*schemas.AlertEvent
	keep := a.dirty[:0]
	for _, g := range a.dirty {
		switch {
		case !g.dirty:
		case g.elem == nil: // left the state: emit what it had
			g.dirty = false
			g.alert.Version++
			out = append(out, clone(&g.alert))
		case a.watermark.Sub(g.lastEmit) >= a.cfg.UpdateInterval:
			g.dirty = false
			g.lastEmit = a.watermark
			g.alert.Version++
			out = append(out, clone(&g.alert))
		default:
			keep = append(keep, g)
		}
	}
	clear(a.dirty[len(keep):])
	a.dirty = keep
	return out
}

// FlushAll returns every alert whose last repeats were folded, due or not: at the end of a
// finite input (a replay) no later event time would release them.
func (a *Alerter) FlushAll() []*schemas.AlertEvent {
	var out []*schemas.AlertEvent
	for _, g := range a.dirty {
		if !g.dirty {
			continue
		}
		g.dirty = false
		if g.elem != nil {
			g.lastEmit = a.watermark
		}
		g.alert.Version++
		out = append(out, clone(&g.alert))
	}
	clear(a.dirty)
	a.dirty = a.dirty[:0]
	return out
}

// SetStatus records a lifecycle change made elsewhere (the API) so later updates keep it; it
// returns the alert as it now stands, or false when the alert is not held.
func (a *Alerter) SetStatus(id string, status schemas.AlertStatus, by string, at time.Time, version uint64) (*schemas.AlertEvent, bool) {
	g := a.byID[id]
	if g == nil {
		return nil, false
	}
	g.alert.Status, g.alert.StatusBy = status, by
	t := at
	g.alert.StatusAt = &t
	if version > g.alert.Version {
		g.alert.Version = version
	}
	return clone(&g.alert), true
}

func (a *Alerter) expire() {
	for e := a.glru.Front(); e != nil; {
		g := e.Value.(*group)
		if a.watermark.Sub(g.alert.LastSeen) <= a.cfg.DedupWindow {
			return
		}
		e = e.Next()
		a.dropGroup(g)
	}
}

func (a *Alerter) dropGroup(g *group) {
	if g.elem == nil {
		return
	}
	a.glru.Remove(g.elem)
	g.elem = nil
	delete(a.groups, g.key)
	delete(a.byID, g.alert.ID)
}

func (a *Alerter) dropMember(m *member) {
	a.mlru.Remove(m.elem)
	delete(a.members, m.id)
}

// layerSet names the layers of a breakdown and whether each spoke: a layer joining (even to
// abstain) changes what the alert shows, so it is emitted at once.
func layerSet(ls []schemas.LayerBreakdown) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.Layer)
		if l.Score != nil {
			b.WriteByte('+')
		}
		b.WriteByte(',')
	}
	return b.String()
}

// mergeStrings returns dst with the strings of src it lacks appended, up to n in all: dst itself
// when there are none, else a new slice (dst is never appended to in place).
func mergeStrings(dst, src []string, n int) []string {
	out := dst
	copied := false
	for _, s := range src {
		if len(out) >= n {
			break
		}
		dup := false
		for _, v := range out {
			if v == s {
				dup = true
				break
			}
		}
		if !dup && s != "" {
			if !copied {
				out = append(make([]string, 0, min(n, len(dst)+len(src))), dst...)
				copied = true
			}
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil // as a copy of nothing was
	}
	return out
}

// maxHistory is the most score changes an alert keeps (the latest).
const maxHistory = 32

func clone(a *schemas.AlertEvent) *schemas.AlertEvent {
	c := *a
	c.Layers = append([]schemas.LayerBreakdown(nil), a.Layers...)
	c.Tags = append([]string(nil), a.Tags...)
	c.EvidenceIDs = append([]string(nil), a.EvidenceIDs...)
	c.History = append([]schemas.ScoreChange(nil), a.History...)
	if a.StatusAt != nil {
		t := *a.StatusAt
		c.StatusAt = &t
	}
	return &c
}
