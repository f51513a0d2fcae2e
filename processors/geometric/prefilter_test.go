package geometric

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/amoskys/amoskys/processors/geometric/sigma"
	"github.com/amoskys/amoskys/schemas"
)

// The prefilter never changes what matches: over events built from the rules' own literals
// (so that many rules fire), Match and MatchAll agree exactly.
func TestPrefilterIsExact(t *testing.T) {
	d := sharedData(t)
	dirs := []string{filepath.Join(repoRoot(), "rules"), filepath.Join(d, "sigma", "rules", "linux"),
		filepath.Join(d, "sigma", "rules-emerging-threats"), filepath.Join(d, "sigma", "rules-threat-hunting")}
	s := NewSchema()
	rep, err := sigma.LoadPaths(s, dirs...)
	if err != nil {
		t.Fatal(err)
	}
	rs := sigma.NewRuleset(s, rep.Rules, sigma.Options{Categories: Categories})
	lits := harvestLiterals(t, dirs)
	if len(lits) < 500 {
		t.Fatalf("only %d literals harvested", len(lits))
	}
	r := rand.New(rand.NewPCG(7, 7))
	pick := func() string { return lits[r.IntN(len(lits))] }
	rec := sigma.NewRecord(s)
	fired, n := 0, 1500
	if testing.Short() {
		n = 500
	}
	for i := 0; i < n; i++ {
		p := &schemas.Process{PID: 10, PPID: 9, Name: pick(), Exe: "/usr/bin/" + pick(), Cmdline: pick() + " " + pick() + " " + pick(),
			UID: uint32(r.IntN(2) * 1000), EUID: uint32(r.IntN(2) * 1000), StdioSocket: r.IntN(4) == 0, ExeDeleted: r.IntN(8) == 0,
			Ancestry: []schemas.Ancestor{{PID: 9, Exe: pick(), Cmdline: pick() + " " + pick(), UID: 1000}, {PID: 1, Exe: "/usr/sbin/" + pick()}}}
		if r.IntN(3) == 0 {
			p.Exe = pick()
		}
		evs := []*schemas.TelemetryEvent{
			{Kind: schemas.KindProcessExec, Process: p},
			{Kind: schemas.KindConnection, Conn: &schemas.Connection{Action: "opened", Proto: "tcp", Exe: p.Exe, LocalAddr: "10.0.0.1", LocalPort: 50000, RemoteAddr: "8.8.8.8", RemotePort: 4444}},
		}
		for _, ev := range evs {
			cat := Category(ev)
			rec.Reset(eventSource{ev})
			var a, b []string
			rs.Match(cat, rec, func(r *sigma.Rule) { a = append(a, r.ID) })
			rs.MatchAll(cat, rec, func(r *sigma.Rule) { b = append(b, r.ID) })
			if strings.Join(a, ",") != strings.Join(b, ",") {
				t.Fatalf("prefilter changed the result for %+v\nMatch    %v\nMatchAll %v", ev.Process, a, b)
			}
			fired += len(a)
		}
	}
	if fired < n/10 {
		t.Fatalf("only %d matches: the corpus does not exercise the rules", fired)
	}
	t.Logf("%d rule matches, identical with and without the prefilter", fired)
}

var quoted = regexp.MustCompile(`(?m)^\s*-?\s*[A-Za-z|]*:?\s*'([^']+)'\s*$|^\s+- ([^'\s][^\n]*)$`)

func harvestLiterals(t *testing.T, dirs []string) []string {
	var out []string
	for _, d := range dirs {
		_ = filepath.Walk(d, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || !strings.HasSuffix(p, ".yml") {
				return nil
			}
			b, _ := os.ReadFile(p)
			det := string(b)
			if i := strings.Index(det, "detection:"); i >= 0 {
				det = det[i:]
			}
			for _, m := range quoted.FindAllStringSubmatch(det, -1) {
				v := m[1] + m[2]
				v = strings.ReplaceAll(v, "*", "")
				if v != "" && !strings.HasPrefix(v, "http") {
					out = append(out, v, strings.ToUpper(v))
				}
			}
			return nil
		})
	}
	return out
}
