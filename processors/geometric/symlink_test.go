package geometric

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/processors/geometric/sigma"
)

func ruleYAML(id string) string {
	return "title: " + id + "\nid: " + id + "\nlogsource: {product: linux, category: process_creation}\n" +
		"detection:\n  sel: {Image|endswith: /" + id + "}\n  condition: sel\nlevel: high\n"
}

func ruleIDs(rep *sigma.LoadReport) []string {
	var out []string
	for _, r := range rep.Rules {
		out = append(out, r.ID)
	}
	return out
}

// The reported bug: rules reached through symbolic links loaded 0 rules without a word.
func TestLoadFollowsSymlinks(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	elsewhere := filepath.Join(base, "elsewhere")
	for _, d := range []string{real, elsewhere, filepath.Join(elsewhere, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(real, "a.yml"), ruleYAML("rule-a"))
	write(filepath.Join(elsewhere, "b.yml"), ruleYAML("rule-b"))
	write(filepath.Join(elsewhere, "sub", "c.yaml"), ruleYAML("rule-c"))
	link(filepath.Join(elsewhere, "b.yml"), filepath.Join(real, "linked-file.yml")) // a linked rule file
	link(filepath.Join(elsewhere, "sub"), filepath.Join(real, "linked-dir"))        // a linked subdirectory
	link(real, filepath.Join(real, "loop"))                                         // a loop back to the root
	link(filepath.Join(base, "gone"), filepath.Join(real, "dangling.yml"))          // a dangling link
	rootLink := filepath.Join(base, "rules")
	link(real, rootLink) // the configured directory itself is a link

	e, err := New(Config{RuleDirs: []string{rootLink}})
	if err != nil {
		t.Fatal(err)
	}
	rep := e.Report()
	got := strings.Join(ruleIDs(rep), ",")
	if got != "rule-a,rule-c,rule-b" {
		t.Fatalf("rules %s, want rule-a,rule-c,rule-b (a.yml, linked-dir/c.yaml, linked-file.yml)", got)
	}
	if len(rep.Errors) != 0 || rep.Files != 3 || len(rep.Paths) != 1 || rep.Paths[0].Rules != 3 {
		t.Fatalf("report files %d errors %v paths %+v", rep.Files, rep.Errors, rep.Paths)
	}
	if w := PathWarnings(rep); len(w) != 0 {
		t.Fatalf("warnings for a good linked dir: %v", w)
	}
	if e.Ruleset().ActiveCount() != 3 {
		t.Fatalf("active %d", e.Ruleset().ActiveCount())
	}
	// A configured path that is a link to one rule file.
	rep2, err := sigma.LoadPaths(NewSchema(), filepath.Join(real, "linked-file.yml"))
	if err != nil || strings.Join(ruleIDs(rep2), ",") != "rule-b" {
		t.Fatalf("linked file: %v %v", ruleIDs(rep2), err)
	}
}

func TestWarnOnMissingOrEmptyRulesDir(t *testing.T) {
	good := t.TempDir()
	if err := os.WriteFile(filepath.Join(good, "a.yml"), []byte(ruleYAML("rule-a")), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	missing := filepath.Join(t.TempDir(), "nope")

	e, err := New(Config{RuleDirs: []string{good, empty, missing}})
	if err != nil {
		t.Fatalf("one missing dir among good ones failed the load: %v", err)
	}
	w := strings.Join(PathWarnings(e.Report()), "\n")
	if !strings.Contains(w, empty+" yielded 0 rules") || !strings.Contains(w, missing+" not loaded") || strings.Contains(w, good) {
		t.Fatalf("warnings:\n%s", w)
	}
	if len(e.Report().Rules) != 1 {
		t.Fatalf("rules %d", len(e.Report().Rules))
	}

	// Only an empty directory: the engine runs with 0 rules and says so.
	e, err = New(Config{RuleDirs: []string{empty}})
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(PathWarnings(e.Report()), "\n"); !strings.Contains(w, "0 rules loaded") {
		t.Fatalf("warnings:\n%s", w)
	}
	// Nothing readable at all: an error, as before.
	if _, err := New(Config{RuleDirs: []string{missing}}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("err %v", err)
	}

	// The processor starts with a missing dir beside a good one.
	conf, err := spec().ParseYAML("rules_dirs: ["+good+", "+missing+"]\nwatch: false\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := newProcessor(conf, service.MockResources())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(bp.(*processor).e.Report().Rules); n != 1 {
		t.Fatalf("processor rules %d", n)
	}
}
