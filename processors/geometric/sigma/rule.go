package sigma

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Levels in order, with the score a geometric layer gives each.
var levelScores = map[string]float64{
	"informational": 0.1, "low": 0.3, "medium": 0.5, "high": 0.75, "critical": 0.95,
}

// LevelScore returns the 0..1 score of a Sigma level (0.5 for an unknown level).
func LevelScore(level string) float64 {
	if s, ok := levelScores[strings.ToLower(level)]; ok {
		return s
	}
	return 0.5
}

// Logsource is a rule's logsource block.
type Logsource struct {
	Category string `yaml:"category"`
	Product  string `yaml:"product"`
	Service  string `yaml:"service"`
}

// Rule is one compiled Sigma rule.
type Rule struct {
	Title          string
	ID             string
	Status         string
	Description    string
	Author         string
	References     []string
	Logsource      Logsource
	Level          string
	Tags           []string
	FalsePositives []string
	File           string

	// Unmapped lists the fields the rule reads that the schema does not know: they never have
	// a value, so a selection needing them cannot match.
	Unmapped []string

	cond node
	sels map[string]*selection
	used []string // selection names the condition reads, sorted
}

// Score is the rule's level as a 0..1 score.
func (r *Rule) Score() float64 { return LevelScore(r.Level) }

// Match evaluates the rule against a record.
func (r *Rule) Match(rec *Record) bool { return r.cond.eval(rec) }

// Evidence is one field and value that a matching rule read.
type Evidence struct {
	Field, Value string
}

// Evidence lists the fields and values of the selections that are true for rec (the ones that
// made the rule match), deduplicated and in rule order.
func (r *Rule) Evidence(rec *Record) []Evidence {
	var out []Evidence
	seen := map[string]bool{}
	for _, name := range r.used {
		s := r.sels[name]
		if !s.eval(rec) {
			continue
		}
		for _, f := range s.fields() {
			if f.keywords != nil {
				for _, id := range f.keywords {
					for _, v := range rec.Raw(id) {
						if f.any1(v, strings.ToLower(v)) {
							k := "keyword\x00" + v
							if !seen[k] {
								seen[k] = true
								out = append(out, Evidence{Field: "keyword", Value: v})
							}
						}
					}
				}
				continue
			}
			vals := rec.Raw(f.field)
			v := strings.Join(vals, " | ")
			if len(vals) == 0 {
				v = "(absent)"
			}
			k := f.name + "\x00" + v
			if !seen[k] {
				seen[k] = true
				out = append(out, Evidence{Field: f.name, Value: v})
			}
		}
	}
	return out
}

// selection is a named search: OR over groups, each group an AND over field matchers.
type selection struct {
	groups [][]*fieldMatcher
}

func (s *selection) eval(r *Record) bool {
	for _, g := range s.groups {
		ok := true
		for _, f := range g {
			if !f.eval(r) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (s *selection) fields() []*fieldMatcher {
	var out []*fieldMatcher
	for _, g := range s.groups {
		out = append(out, g...)
	}
	return out
}

// scalar is one YAML value: kind 's' string, 'i' number, 'b' bool, 'n' null.
type scalar struct {
	kind byte
	s    string
}

// LoadError says why a rule did not load, with its position.
type LoadError struct {
	File        string
	Line, Col   int
	Msg         string
	RuleID      string
	RuleTitle   string
	Unsupported bool // valid Sigma this engine does not implement (aggregations, correlations)
}

func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

func errAt(file string, n *yaml.Node, format string, a ...any) *LoadError {
	e := &LoadError{File: file, Msg: fmt.Sprintf(format, a...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	return e
}

// maxRuleBytes bounds one rule file: Sigma rules are a few kilobytes.
const maxRuleBytes = 1 << 20

// Parse compiles every rule document in data (one file) against schema s.
func Parse(file string, data []byte, s *Schema) ([]*Rule, error) {
	if len(data) > maxRuleBytes {
		return nil, &LoadError{File: file, Msg: fmt.Sprintf("file is %d bytes, more than %d", len(data), maxRuleBytes)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var rules []*Rule
	var errs []error
	for i := 0; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, &LoadError{File: file, Line: yamlErrLine(err), Msg: "YAML: " + err.Error()})
			break
		}
		if i > 0 {
			errs = append(errs, errAt(file, &doc, "multi-document files (rule collections, correlations) are not supported"))
			continue
		}
		r, lerr := parseRule(file, &doc, s)
		if lerr != nil {
			errs = append(errs, lerr)
			continue
		}
		rules = append(rules, r)
	}
	return rules, errors.Join(errs...)
}

func yamlErrLine(err error) int {
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		j := i + 5
		for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
			j++
		}
		n, _ := strconv.Atoi(msg[i+5 : j])
		return n
	}
	return 0
}

func parseRule(file string, doc *yaml.Node, s *Schema) (*Rule, *LoadError) {
	root := doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, errAt(file, doc, "empty document")
		}
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, errAt(file, root, "a rule must be a mapping")
	}
	r := &Rule{File: file}
	var det *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		var err error
		switch k.Value {
		case "title":
			err = v.Decode(&r.Title)
		case "id":
			err = v.Decode(&r.ID)
		case "status":
			err = v.Decode(&r.Status)
		case "description":
			err = v.Decode(&r.Description)
		case "author":
			err = v.Decode(&r.Author)
		case "references":
			err = v.Decode(&r.References)
		case "logsource":
			err = v.Decode(&r.Logsource)
		case "level":
			err = v.Decode(&r.Level)
		case "tags":
			err = v.Decode(&r.Tags)
		case "falsepositives":
			if v.Kind == yaml.ScalarNode {
				var one string
				err = v.Decode(&one)
				r.FalsePositives = []string{one}
			} else {
				err = v.Decode(&r.FalsePositives)
			}
		case "detection":
			det = v
		case "correlation":
			return nil, &LoadError{File: file, Line: k.Line, Col: k.Column, Msg: "correlation rules are not supported", Unsupported: true}
		}
		if err != nil {
			return nil, errAt(file, v, "%s: %v", k.Value, err)
		}
	}
	fail := func(e *LoadError) (*Rule, *LoadError) {
		e.RuleID, e.RuleTitle = r.ID, r.Title
		return nil, e
	}
	if r.Title == "" {
		return fail(errAt(file, root, "missing title"))
	}
	if det == nil {
		return fail(errAt(file, root, "missing detection"))
	}
	if r.Level != "" {
		if _, ok := levelScores[strings.ToLower(r.Level)]; !ok {
			return fail(errAt(file, root, "unknown level %q (informational, low, medium, high, critical)", r.Level))
		}
		r.Level = strings.ToLower(r.Level)
	}
	if det.Kind != yaml.MappingNode {
		return fail(errAt(file, det, "detection must be a mapping"))
	}
	r.sels = map[string]*selection{}
	var conds []string
	var condNode *yaml.Node
	unmapped := map[string]bool{}
	for i := 0; i+1 < len(det.Content); i += 2 {
		k, v := det.Content[i], det.Content[i+1]
		switch k.Value {
		case "condition":
			condNode = v
			switch v.Kind {
			case yaml.ScalarNode:
				conds = []string{v.Value}
			case yaml.SequenceNode:
				for _, c := range v.Content {
					if c.Kind != yaml.ScalarNode {
						return fail(errAt(file, c, "condition list items must be strings"))
					}
					conds = append(conds, c.Value)
				}
			default:
				return fail(errAt(file, v, "condition must be a string or a list of strings"))
			}
			continue
		case "timeframe":
			continue // only meaningful with aggregations, which the condition parser rejects
		}
		sel, err := compileSelection(file, k.Value, v, s, unmapped)
		if err != nil {
			return fail(err)
		}
		r.sels[k.Value] = sel
	}
	if condNode == nil || len(conds) == 0 || strings.TrimSpace(strings.Join(conds, "")) == "" {
		n := condNode
		if n == nil {
			n = det
		}
		return fail(errAt(file, n, "detection has no condition"))
	}
	used := map[string]bool{}
	var ors nOr
	for _, c := range conds {
		n, u, err := parseCondition(c, r.sels)
		if err != nil {
			e := errAt(file, condNode, "%v", err)
			e.Unsupported = strings.Contains(err.Error(), "not supported")
			return fail(e)
		}
		for k := range u {
			used[k] = true
		}
		ors = append(ors, n)
	}
	if len(ors) == 1 {
		r.cond = ors[0]
	} else {
		r.cond = ors
	}
	for k := range used {
		r.used = append(r.used, k)
	}
	sort.Strings(r.used)
	for k := range unmapped {
		r.Unmapped = append(r.Unmapped, k)
	}
	sort.Strings(r.Unmapped)
	return r, nil
}

func compileSelection(file, name string, v *yaml.Node, s *Schema, unmapped map[string]bool) (*selection, *LoadError) {
	sel := &selection{}
	switch v.Kind {
	case yaml.MappingNode:
		g, err := compileMap(file, v, s, unmapped)
		if err != nil {
			return nil, err
		}
		sel.groups = append(sel.groups, g)
	case yaml.SequenceNode:
		var kws []scalar
		for _, item := range v.Content {
			switch item.Kind {
			case yaml.MappingNode:
				g, err := compileMap(file, item, s, unmapped)
				if err != nil {
					return nil, err
				}
				sel.groups = append(sel.groups, g)
			case yaml.ScalarNode:
				sc, err := toScalar(file, item)
				if err != nil {
					return nil, err
				}
				kws = append(kws, sc)
			default:
				return nil, errAt(file, item, "selection %q: list items must be maps or strings", name)
			}
		}
		if len(kws) > 0 {
			f, err := compileField(s, "", kws, true)
			if err != nil {
				return nil, errAt(file, v, "selection %q: %v", name, err)
			}
			sel.groups = append(sel.groups, []*fieldMatcher{f})
		}
		if len(sel.groups) == 0 {
			return nil, errAt(file, v, "selection %q is empty", name)
		}
	case yaml.ScalarNode:
		sc, err := toScalar(file, v)
		if err != nil {
			return nil, err
		}
		f, cerr := compileField(s, "", []scalar{sc}, true)
		if cerr != nil {
			return nil, errAt(file, v, "selection %q: %v", name, cerr)
		}
		sel.groups = append(sel.groups, []*fieldMatcher{f})
	default:
		return nil, errAt(file, v, "selection %q must be a map, a list or a string", name)
	}
	return sel, nil
}

func compileMap(file string, m *yaml.Node, s *Schema, unmapped map[string]bool) ([]*fieldMatcher, *LoadError) {
	if len(m.Content) == 0 {
		return nil, errAt(file, m, "empty map in a selection")
	}
	var g []*fieldMatcher
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		var vals []scalar
		switch v.Kind {
		case yaml.ScalarNode:
			sc, err := toScalar(file, v)
			if err != nil {
				return nil, err
			}
			vals = []scalar{sc}
		case yaml.SequenceNode:
			for _, it := range v.Content {
				if it.Kind != yaml.ScalarNode {
					return nil, errAt(file, it, "%q: values must be scalars", k.Value)
				}
				sc, err := toScalar(file, it)
				if err != nil {
					return nil, err
				}
				vals = append(vals, sc)
			}
		default:
			return nil, errAt(file, v, "%q: value must be a scalar or a list", k.Value)
		}
		field := strings.SplitN(k.Value, "|", 2)[0]
		keyword := field == ""
		f, err := compileField(s, k.Value, vals, keyword)
		if err != nil {
			return nil, errAt(file, k, "%v", err)
		}
		if !keyword && f.field == Absent {
			unmapped[field] = true
		}
		g = append(g, f)
	}
	// Cheapest first: the AND stops at the first false, and plain compares are cheaper than
	// regular expressions. Stable, so rule order decides among equals.
	sort.SliceStable(g, func(i, j int) bool { return cost(g[i]) < cost(g[j]) })
	return g, nil
}

func cost(f *fieldMatcher) int {
	c := 0
	for _, m := range f.ms {
		switch m.(type) {
		case mRegex:
			c += 50
		case mGlob:
			c += 5
		default:
			c++
		}
	}
	if f.keywords != nil {
		c *= 3
	}
	return c
}

func toScalar(file string, n *yaml.Node) (scalar, *LoadError) {
	if n.Kind != yaml.ScalarNode {
		return scalar{}, errAt(file, n, "expected a scalar")
	}
	switch n.Tag {
	case "!!null":
		return scalar{kind: 'n'}, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return scalar{}, errAt(file, n, "%v", err)
		}
		return scalar{kind: 'b', s: strconv.FormatBool(b)}, nil
	case "!!int", "!!float":
		return scalar{kind: 'i', s: n.Value}, nil
	default:
		return scalar{kind: 's', s: n.Value}, nil
	}
}
