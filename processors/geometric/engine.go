// Package geometric is the geometric detection layer: Sigma rules over the process tree,
// privilege and network topology of each telemetry event. The logic (Engine) is plain Go;
// plugin.go adapts it to Benthos as the `geometric` processor.
package geometric

import (
	"errors"
	"fmt"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/amoskys/amoskys/processors/geometric/sigma"
	"github.com/amoskys/amoskys/schemas"
)

// Allow suppresses matches of one rule (or every rule, Rule "*") for matching images or parent
// images (wildcards * and ?, case-insensitive), users or hosts.
type Allow struct {
	Rule         string   `json:"rule" yaml:"rule"`
	Images       []string `json:"images,omitempty" yaml:"images"`
	ParentImages []string `json:"parent_images,omitempty" yaml:"parent_images"`
	Users        []string `json:"users,omitempty" yaml:"users"`
	Hosts        []string `json:"hosts,omitempty" yaml:"hosts"`
}

// DefaultAllow is the allow-list of the plugin's default config: `go test` and `go run` execute
// their build products, and those spawn shells, from Go's temporary build directory, which
// SigmaHQ's /tmp execution rules would otherwise report on every test run. Remove it on hosts
// where nobody builds Go.
var DefaultAllow = []Allow{{Rule: "*", Images: []string{"/tmp/go-build*"}, ParentImages: []string{"/tmp/go-build*"}}}

// Config of an Engine.
type Config struct {
	RuleDirs  []string // our rules (./rules)
	SigmaDirs []string // extra Sigma rule trees (SigmaHQ linux rules)
	Allow     []Allow
}

// Engine judges telemetry events with a rule set that can be swapped atomically.
type Engine struct {
	cfg    Config
	schema *sigma.Schema
	pool   *sigma.RecordPool
	cur    atomic.Pointer[loaded]
}

type loaded struct {
	rs     *sigma.Ruleset
	report *sigma.LoadReport
	allow  map[string][]allowM // rule id or "*" -> entries
}

type allowM struct {
	images  []sigmaGlob
	parents []sigmaGlob
	users   map[string]bool
	hosts   map[string]bool
}

// sigmaGlob is a case-insensitive pattern with the * and ? wildcards.
type sigmaGlob struct{ pat string }

func (g sigmaGlob) match(s string) bool { return wildMatch(strings.ToLower(g.pat), strings.ToLower(s)) }

// wildMatch matches '*' and '?' (path.Match would stop '*' at '/').
func wildMatch(p, s string) bool {
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi, mark = star+1, mark+1
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// ErrNoRules says no rule directory could be read.
var ErrNoRules = errors.New("no rules loaded")

// New loads the rules of cfg.
func New(cfg Config) (*Engine, error) {
	s := NewSchema()
	e := &Engine{cfg: cfg, schema: s, pool: sigma.NewRecordPool(s)}
	if _, err := e.Reload(); err != nil {
		return nil, err
	}
	return e, nil
}

// Schema returns the field schema rules compile against.
func (e *Engine) Schema() *sigma.Schema { return e.schema }

// Report returns the load report of the rules in force.
func (e *Engine) Report() *sigma.LoadReport { return e.cur.Load().report }

// Ruleset returns the rules in force.
func (e *Engine) Ruleset() *sigma.Ruleset { return e.cur.Load().rs }

// Reload reads every rule again and swaps the new set in atomically. A directory that cannot be
// read (e.g. does not exist) is skipped and named in the report's Paths; when none can be read
// the old set stays in force and the error wraps ErrNoRules. Rules that fail to compile are skipped and listed in
// the report.
func (e *Engine) Reload() (*sigma.LoadReport, error) {
	paths := append(append([]string(nil), e.cfg.RuleDirs...), e.cfg.SigmaDirs...)
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no rule directories configured", ErrNoRules)
	}
	rep, err := sigma.LoadPathsSkipMissing(e.schema, paths...)
	if err != nil {
		return nil, err
	}
	if unread := rep.UnreadPaths(); len(unread) == len(paths) {
		return nil, fmt.Errorf("%w: %s", ErrNoRules, strings.Join(unread, "; "))
	}
	l := &loaded{
		rs:     sigma.NewRuleset(e.schema, rep.Rules, sigma.Options{Categories: Categories}),
		report: rep,
		allow:  map[string][]allowM{},
	}
	for _, a := range e.cfg.Allow {
		m := allowM{users: map[string]bool{}, hosts: map[string]bool{}}
		for _, i := range a.Images {
			m.images = append(m.images, sigmaGlob{i})
		}
		for _, i := range a.ParentImages {
			m.parents = append(m.parents, sigmaGlob{i})
		}
		for _, u := range a.Users {
			m.users[strings.ToLower(u)] = true
		}
		for _, h := range a.Hosts {
			m.hosts[strings.ToLower(h)] = true
		}
		id := a.Rule
		if id == "" {
			id = "*"
		}
		l.allow[id] = append(l.allow[id], m)
	}
	e.cur.Store(l)
	return rep, nil
}

// Match is one rule that matched an event, with its evidence.
type Match struct {
	Rule     *sigma.Rule
	Evidence []sigma.Evidence
}

// Verdict is the engine's answer for one event.
type Verdict struct {
	Matches    []Match
	Suppressed int // matches dropped by allow-lists
}

// Evaluate runs every active rule of the event's category. No category: empty verdict.
func (e *Engine) Evaluate(ev *schemas.TelemetryEvent) Verdict {
	var v Verdict
	cat := Category(ev)
	if cat == "" {
		return v
	}
	l := e.cur.Load()
	rec := e.pool.Get()
	rec.Reset(eventSource{ev})
	l.rs.Match(cat, rec, func(r *sigma.Rule) {
		if l.allowed(r.ID, ev, rec) {
			v.Suppressed++
			return
		}
		v.Matches = append(v.Matches, Match{Rule: r, Evidence: r.Evidence(rec)})
	})
	e.pool.Put(rec)
	return v
}

func (l *loaded) allowed(id string, ev *schemas.TelemetryEvent, rec *sigma.Record) bool {
	if len(l.allow) == 0 {
		return false
	}
	for _, key := range []string{id, "*"} {
		for _, a := range l.allow[key] {
			if a.hosts[strings.ToLower(ev.Host)] {
				return true
			}
			for _, u := range rec.Raw(fUser) {
				if a.users[strings.ToLower(u)] {
					return true
				}
			}
			for _, img := range rec.Raw(fImage) {
				for _, g := range a.images {
					if g.match(img) {
						return true
					}
				}
			}
			for _, img := range rec.Raw(fParentImage) {
				for _, g := range a.parents {
					if g.match(img) {
						return true
					}
				}
			}
		}
	}
	return false
}

// Judge returns the geometric layer result for ev, or false when no rule matched (the layer
// says nothing about the event).
func (e *Engine) Judge(ev *schemas.TelemetryEvent) (schemas.LayerResult, Verdict, bool) {
	v := e.Evaluate(ev)
	if len(v.Matches) == 0 {
		return schemas.LayerResult{}, v, false
	}
	return Result(ev, v.Matches), v, true
}

// Result builds the layer result of the matches: the score is the highest rule level's score,
// raised by the other matches (each counted at half its score, noisy-OR), and one reason per rule.
func Result(ev *schemas.TelemetryEvent, ms []Match) schemas.LayerResult {
	sort.SliceStable(ms, func(i, j int) bool {
		si, sj := ms[i].Rule.Score(), ms[j].Rule.Score()
		if si != sj {
			return si > sj
		}
		return ms[i].Rule.ID < ms[j].Rule.ID
	})
	top := ms[0].Rule.Score()
	rest := 1.0
	for _, m := range ms[1:] {
		rest *= 1 - m.Rule.Score()/2
	}
	score := 1 - (1-top)*rest
	score = math.Min(1, math.Round(score*1e6)/1e6)
	r := schemas.LayerResult{
		Layer:  schemas.LayerGeometric,
		Score:  &score,
		Time:   ev.Time,
		Host:   ev.Host,
		Entity: Entity(ev),
		Source: ev.ID,
	}
	for _, m := range ms {
		ru := m.Rule
		evd := map[string]string{}
		var parts []string
		for _, x := range m.Evidence {
			evd[x.Field] = x.Value
			parts = append(parts, x.Field+"="+x.Value)
		}
		var tags []string
		for _, t := range ru.Tags {
			if strings.HasPrefix(strings.ToLower(t), "attack.") {
				tags = append(tags, t)
			}
		}
		id := ru.ID
		if id == "" {
			id = "sigma:" + path.Base(ru.File)
		}
		r.Reasons = append(r.Reasons, schemas.Reason{
			ID:       id,
			Title:    ru.Title,
			Text:     fmt.Sprintf("%s (%s): %s", ru.Title, ru.Level, strings.Join(parts, ", ")),
			Score:    ru.Score(),
			Level:    ru.Level,
			Tags:     tags,
			Evidence: evd,
		})
	}
	return r
}

// Entity names what the result refers to: the process identity pid@start when known.
func Entity(ev *schemas.TelemetryEvent) string {
	if p := ev.Process; p != nil {
		if p.StartTime.IsZero() {
			return "proc:" + strconv.Itoa(int(p.PID))
		}
		return "proc:" + strconv.Itoa(int(p.PID)) + "@" + strconv.FormatInt(p.StartTime.Unix(), 10)
	}
	if c := ev.Conn; c != nil && c.PID != 0 {
		return "proc:" + strconv.Itoa(int(c.PID))
	}
	return "host"
}
