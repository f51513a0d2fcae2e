package geometric

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/processors/geometric/sigma"
	"github.com/amoskys/amoskys/schemas"
)

func shellUnderNginx() *schemas.TelemetryEvent {
	return &schemas.TelemetryEvent{ID: "e1", Kind: schemas.KindProcessExec, Host: "web1", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Process: &schemas.Process{PID: 7000, PPID: 6900, StartTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Name: "sh", Exe: "/usr/bin/dash", Cmdline: "sh -c id",
			UID: 33, EUID: 33, User: "www-data", StdioSocket: true,
			Ancestry: []schemas.Ancestor{{PID: 6900, Name: "nginx", Exe: "/usr/sbin/nginx", UID: 33, EUID: 33}}}}
}

func TestJudgeScoreAndReasons(t *testing.T) {
	e, err := New(Config{RuleDirs: []string{filepath.Join(repoRoot(), "rules")}})
	if err != nil {
		t.Fatal(err)
	}
	r, v, ok := e.Judge(shellUnderNginx())
	if !ok || len(v.Matches) != 2 {
		t.Fatalf("ok %v matches %d", ok, len(v.Matches))
	}
	// critical 0.95 (reverse shell) raised by high 0.75 at half weight: 1 - 0.05*(1-0.375)
	if *r.Score < 0.968 || *r.Score > 0.97 {
		t.Fatalf("score %v", *r.Score)
	}
	if r.Layer != schemas.LayerGeometric || r.Entity != "proc:7000@1767225600" || r.Source != "e1" || r.Host != "web1" {
		t.Fatalf("result %+v", r)
	}
	top := r.Reasons[0]
	if top.ID != "amoskys-reverse-shell" || top.Level != "critical" || top.Evidence["StdioSocket"] != "true" || top.Evidence["Image"] != "/usr/bin/dash" {
		t.Fatalf("top reason %+v", top)
	}
	if len(top.Tags) == 0 || !strings.HasPrefix(top.Tags[0], "attack.") {
		t.Fatalf("tags %v", top.Tags)
	}
	// No match: the layer says nothing.
	ev := shellUnderNginx()
	ev.Process.Ancestry[0].Exe = "/usr/bin/make"
	ev.Process.StdioSocket = false
	if _, _, ok := e.Judge(ev); ok {
		t.Fatal("a shell under make matched")
	}
	// Events the layer does not judge.
	if _, _, ok := e.Judge(&schemas.TelemetryEvent{Kind: schemas.KindHostMetric, Metric: &schemas.Metric{Name: "cpu.user"}}); ok {
		t.Fatal("host metric judged")
	}
}

func TestAllowLists(t *testing.T) {
	cases := []struct {
		name  string
		allow Allow
		left  int
	}{
		{"by rule and image", Allow{Rule: "amoskys-reverse-shell", Images: []string{"/usr/bin/da*"}}, 1},
		{"by parent image, every rule", Allow{Rule: "*", ParentImages: []string{"*/nginx"}}, 0},
		{"by user", Allow{Rule: "amoskys-shell-under-daemon", Users: []string{"WWW-DATA"}}, 1},
		{"by host", Allow{Hosts: []string{"web1"}}, 0},
		{"other image", Allow{Rule: "*", Images: []string{"/usr/bin/bash"}}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := New(Config{RuleDirs: []string{filepath.Join(repoRoot(), "rules")}, Allow: []Allow{c.allow}})
			if err != nil {
				t.Fatal(err)
			}
			v := e.Evaluate(shellUnderNginx())
			if len(v.Matches) != c.left || v.Suppressed != 2-c.left {
				t.Fatalf("matches %d suppressed %d", len(v.Matches), v.Suppressed)
			}
		})
	}
}

const ruleA = `title: A
id: rule-a
level: low
logsource: {product: linux, category: process_creation}
detection:
  sel:
    Image|endswith: /alpha
  condition: sel
`

func TestReloadOnFileChange(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yml"), []byte(ruleA), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{RuleDirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	reloaded := make(chan *sigma.LoadReport, 10)
	if err := e.Watch(t.Context(), 20*time.Millisecond, func(r *sigma.LoadReport, err error) {
		if err == nil {
			reloaded <- r
		}
	}); err != nil {
		t.Fatal(err)
	}
	ev := &schemas.TelemetryEvent{Kind: schemas.KindProcessExec, Process: &schemas.Process{Exe: "/opt/beta"}}
	if _, _, ok := e.Judge(ev); ok {
		t.Fatal("matched before the rule exists")
	}
	rule := strings.ReplaceAll(strings.ReplaceAll(ruleA, "/alpha", "/beta"), "rule-a", "rule-b")
	if err := os.WriteFile(filepath.Join(dir, "b.yml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-reloaded:
			if _, _, ok := e.Judge(ev); ok {
				if n := len(e.Report().Rules); n != 2 {
					t.Fatalf("%d rules after reload", n)
				}
				// A broken edit keeps the good rules and reports the bad one.
				if err := os.WriteFile(filepath.Join(dir, "a.yml"), []byte("title: [broken"), 0o644); err != nil {
					t.Fatal(err)
				}
				for {
					select {
					case r := <-reloaded:
						if len(r.Errors) == 1 && len(r.Rules) == 1 {
							if _, _, ok := e.Judge(ev); !ok {
								t.Fatal("good rule lost after a broken edit")
							}
							return
						}
					case <-deadline:
						t.Fatal("no reload after the broken edit")
					}
				}
			}
		case <-deadline:
			t.Fatal("rule b never took effect")
		}
	}
}

func TestLintReportsWhy(t *testing.T) {
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "good.yml"), []byte(ruleA), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "bad.yml"), []byte("title: x\nlogsource: {category: process_creation}\ndetection:\n  sel:\n    Image|bogus: x\n  condition: sel\n"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "win.yml"), []byte("title: w\nid: w\nlogsource: {product: windows, category: process_creation}\ndetection:\n  sel: {Image: x}\n  condition: sel\n"), 0o644)
	res, err := Lint(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	res.Write(&b, false)
	out := b.String()
	for _, want := range []string{"3 files, 2 rules loaded, 1 not loaded", "process_creation=1", "product:windows category:process_creation]=1",
		"bad.yml:5:5: unsupported modifier \"bogus\""} {
		if !strings.Contains(out, want) {
			t.Errorf("lint output lacks %q:\n%s", want, out)
		}
	}
}

func TestProcessorAttachesLayer(t *testing.T) {
	conf, err := spec().ParseYAML("rules_dirs: ["+filepath.Join(repoRoot(), "rules")+"]\nwatch: false\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := newProcessor(conf, service.MockResources())
	if err != nil {
		t.Fatal(err)
	}
	defer bp.Close(context.Background())
	quiet := shellUnderNginx()
	quiet.Process.Ancestry[0].Exe = "/usr/bin/make"
	quiet.Process.StdioSocket = false
	fv := envelope.NewFeatures(&schemas.FeatureVector{Host: "h"})
	bad := service.NewMessage([]byte("{nope"))
	batch := service.MessageBatch{envelope.NewEvent(shellUnderNginx()), envelope.NewEvent(quiet), fv, bad}
	out, err := bp.ProcessBatch(context.Background(), batch)
	if err != nil || len(out) != 1 || len(out[0]) != 4 {
		t.Fatalf("out %v err %v", out, err)
	}
	if l := envelope.Layers(out[0][0]); len(l) != 1 || l[0].Layer != "geometric" || *l[0].Score < 0.9 {
		t.Fatalf("layers %+v", l)
	}
	if l := envelope.Layers(out[0][1]); len(l) != 0 {
		t.Fatalf("quiet event got layers %+v", l)
	}
	if l := envelope.Layers(out[0][2]); len(l) != 0 {
		t.Fatal("feature vector judged")
	}
	if out[0][3].GetError() == nil {
		t.Fatal("undecodable message not marked failed")
	}
}

func TestPluginDefaults(t *testing.T) {
	t.Setenv("AMOSKYS_RULES_DIR", filepath.Join(repoRoot(), "rules"))
	conf, err := spec().ParseYAML("watch: false\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := newProcessor(conf, service.MockResources())
	if err != nil {
		t.Fatal(err)
	}
	p := bp.(*processor)
	if got := p.e.cfg.RuleDirs; len(got) != 1 || got[0] != filepath.Join(repoRoot(), "rules") {
		t.Fatalf("rule dirs %v", got)
	}
	if len(p.e.cfg.Allow) != 1 || p.e.cfg.Allow[0].Rule != "*" || p.e.cfg.Allow[0].ParentImages[0] != "/tmp/go-build*" {
		t.Fatalf("allow %+v", p.e.cfg.Allow)
	}
	if p.e.Ruleset().ActiveCount() < 10 {
		t.Fatalf("%d active rules", p.e.Ruleset().ActiveCount())
	}
}

// Judging from many goroutines while the rules reload never sees a half-built rule set.
func TestConcurrentJudgeDuringReload(t *testing.T) {
	e, err := New(Config{RuleDirs: []string{filepath.Join(repoRoot(), "rules")}})
	if err != nil {
		t.Fatal(err)
	}
	ev := shellUnderNginx()
	done := make(chan struct{})
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for {
				select {
				case <-done:
					errs <- ""
					return
				default:
				}
				if r, v, ok := e.Judge(ev); !ok || len(v.Matches) != 2 || len(r.Reasons) != 2 {
					errs <- "a judge during reload saw a partial rule set"
					return
				}
			}
		}()
	}
	for i := 0; i < 8; i++ {
		if _, err := e.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for g := 0; g < 4; g++ {
		if msg := <-errs; msg != "" {
			t.Fatal(msg)
		}
	}
}
