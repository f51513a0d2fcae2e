package geometric

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/amoskys/amoskys/processors/geometric/sigma"
)

// LintResult is what `amoskys rules lint` reports.
type LintResult struct {
	Report   *sigma.LoadReport
	Active   map[string]int // category -> active rules
	Inactive map[string]int // logsource -> rules that load but this layer never evaluates
}

// Lint loads the rules under paths and sorts them into active, inactive and not loaded.
func Lint(paths ...string) (*LintResult, error) {
	s := NewSchema()
	rep, err := sigma.LoadPaths(s, paths...)
	if err != nil {
		return nil, err
	}
	rs := sigma.NewRuleset(s, rep.Rules, sigma.Options{Categories: Categories})
	res := &LintResult{Report: rep, Active: map[string]int{}, Inactive: map[string]int{}}
	active := map[*sigma.Rule]bool{}
	for _, c := range Categories {
		for _, r := range rs.Active(c) {
			active[r] = true
			res.Active[c]++
		}
	}
	for _, r := range rep.Rules {
		if !active[r] {
			ls := r.Logsource
			var parts []string
			for _, p := range []struct{ k, v string }{{"product", ls.Product}, {"category", ls.Category}, {"service", ls.Service}} {
				if p.v != "" {
					parts = append(parts, p.k+":"+p.v)
				}
			}
			res.Inactive[strings.Join(parts, " ")]++
		}
	}
	return res, nil
}

// Write prints the lint result: counts, every rule that did not load with file:line:col and
// the reason, and the fields active rules read that no event carries.
func (l *LintResult) Write(w io.Writer, verbose bool) {
	rep := l.Report
	act := 0
	for _, n := range l.Active {
		act += n
	}
	fmt.Fprintf(w, "%d files, %d rules loaded, %d not loaded\n", rep.Files, len(rep.Rules), len(rep.Errors))
	fmt.Fprintf(w, "active (evaluated on telemetry): %d", act)
	for _, c := range Categories {
		fmt.Fprintf(w, "  %s=%d", c, l.Active[c])
	}
	fmt.Fprintln(w)
	if len(l.Inactive) > 0 {
		keys := make([]string, 0, len(l.Inactive))
		for k := range l.Inactive {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "inactive (loaded; no telemetry of this logsource):")
		for _, k := range keys {
			fmt.Fprintf(w, " [%s]=%d", k, l.Inactive[k])
		}
		fmt.Fprintln(w)
	}
	for _, e := range rep.Errors {
		id := ""
		if e.RuleID != "" {
			id = " (rule " + e.RuleID + ")"
		}
		fmt.Fprintf(w, "NOT LOADED %s%s\n", e.Error(), id)
	}
	unmapped := map[string][]string{}
	s := NewSchema()
	rs := sigma.NewRuleset(s, rep.Rules, sigma.Options{Categories: Categories})
	for _, c := range Categories {
		for _, r := range rs.Active(c) {
			for _, f := range r.Unmapped {
				unmapped[f] = append(unmapped[f], r.File)
			}
		}
	}
	fields := make([]string, 0, len(unmapped))
	for f := range unmapped {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, f := range fields {
		fmt.Fprintf(w, "warning: field %s is read by %d active rules but no telemetry carries it (a selection on it never matches)\n", f, len(unmapped[f]))
		if verbose {
			for _, file := range unmapped[f] {
				fmt.Fprintf(w, "  %s\n", file)
			}
		}
	}
}
