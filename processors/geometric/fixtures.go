package geometric

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/amoskys/amoskys/schemas"
)

// FixtureFile is one rules/tests/*.yaml file: events in, expected rule ids out, as
// `promtool test rules` does for Prometheus rules.
type FixtureFile struct {
	Tests []FixtureCase `yaml:"tests"`
}

// FixtureCase is one event and the exact set of rule ids it must match.
type FixtureCase struct {
	Name   string         `yaml:"name"`
	Event  map[string]any `yaml:"event"`  // a TelemetryEvent in its JSON field names
	Expect []string       `yaml:"expect"` // exactly these rule ids match (empty: none)
	Absent []string       `yaml:"absent"` // these rule ids must not match (the negative fixtures)
}

// FixtureResult is the outcome of one case.
type FixtureResult struct {
	File, Name string
	Got, Want  []string
	Err        string
}

// Failed reports whether the case failed.
func (r FixtureResult) Failed() bool { return r.Err != "" }

// FixtureReport is the outcome of a fixture run.
type FixtureReport struct {
	Results []FixtureResult
	// Coverage problems: built-in rules without a positive or a negative fixture.
	Uncovered []string
}

// Failures counts failed cases and coverage problems.
func (r *FixtureReport) Failures() int {
	n := len(r.Uncovered)
	for _, x := range r.Results {
		if x.Failed() {
			n++
		}
	}
	return n
}

// Write prints the report like promtool.
func (r *FixtureReport) Write(w io.Writer) {
	pass := 0
	for _, x := range r.Results {
		if x.Failed() {
			fmt.Fprintf(w, "  FAILED: %s: %s: %s\n", x.File, x.Name, x.Err)
		} else {
			pass++
		}
	}
	for _, u := range r.Uncovered {
		fmt.Fprintf(w, "  FAILED: coverage: %s\n", u)
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", pass, r.Failures())
}

// RunFixtures loads the rules under rulesDir (and sigmaDirs) and runs every fixture file in
// fixturesDir (default rulesDir/tests). Each rule loaded from rulesDir must have at least one
// case that expects it and one that lists it as absent.
func RunFixtures(rulesDir, fixturesDir string, sigmaDirs ...string) (*FixtureReport, error) {
	if fixturesDir == "" {
		fixturesDir = filepath.Join(rulesDir, "tests")
	}
	e, err := New(Config{RuleDirs: []string{rulesDir}, SigmaDirs: sigmaDirs})
	if err != nil {
		return nil, err
	}
	if errs := e.Report().Errors; len(errs) > 0 {
		var msgs []string
		for _, x := range errs {
			msgs = append(msgs, x.Error())
		}
		return nil, fmt.Errorf("rules did not load:\n%s", strings.Join(msgs, "\n"))
	}
	files, err := filepath.Glob(filepath.Join(fixturesDir, "*.y*ml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no fixture files (*.yaml) in %s", fixturesDir)
	}
	sort.Strings(files)
	rep := &FixtureReport{}
	pos, neg := map[string]bool{}, map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var ff FixtureFile
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		if err := dec.Decode(&ff); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for i, c := range ff.Tests {
			name := c.Name
			if name == "" {
				name = fmt.Sprintf("case %d", i+1)
			}
			res := FixtureResult{File: filepath.Base(f), Name: name, Want: sortedCopy(c.Expect)}
			for _, id := range c.Expect {
				pos[id] = true
			}
			for _, id := range c.Absent {
				neg[id] = true
			}
			ev, err := fixtureEvent(c.Event)
			if err != nil {
				res.Err = err.Error()
				rep.Results = append(rep.Results, res)
				continue
			}
			v := e.Evaluate(ev)
			for _, m := range v.Matches {
				res.Got = append(res.Got, m.Rule.ID)
			}
			sort.Strings(res.Got)
			if strings.Join(res.Got, ",") != strings.Join(res.Want, ",") {
				res.Err = fmt.Sprintf("matched %v, want %v", res.Got, res.Want)
			}
			for _, id := range c.Absent {
				for _, g := range res.Got {
					if g == id {
						res.Err = fmt.Sprintf("rule %s matched but is listed absent", id)
					}
				}
			}
			rep.Results = append(rep.Results, res)
		}
	}
	absRules, _ := filepath.Abs(rulesDir)
	for _, r := range e.Report().Rules {
		if abs, _ := filepath.Abs(r.File); !strings.HasPrefix(abs, absRules+string(filepath.Separator)) {
			continue
		}
		if !pos[r.ID] {
			rep.Uncovered = append(rep.Uncovered, fmt.Sprintf("rule %s (%s) has no positive fixture", r.ID, r.File))
		}
		if !neg[r.ID] {
			rep.Uncovered = append(rep.Uncovered, fmt.Sprintf("rule %s (%s) has no negative fixture", r.ID, r.File))
		}
	}
	return rep, nil
}

// fixtureEvent turns a YAML map into a TelemetryEvent through its JSON form, strictly.
func fixtureEvent(m map[string]any) (*schemas.TelemetryEvent, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	ev := &schemas.TelemetryEvent{}
	if err := dec.Decode(ev); err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	if !ev.Kind.Valid() {
		return nil, fmt.Errorf("event: unknown kind %q", ev.Kind)
	}
	return ev, nil
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
