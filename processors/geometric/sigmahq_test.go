package geometric

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/amoskys/amoskys/processors/geometric/sigma"
	"github.com/amoskys/amoskys/schemas"
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

// SigmaHQ rules judge our telemetry through the field mapping: the network_connection rules on
// connection events, process_creation rules on exec events.
func TestSigmaHQRulesOnOurEvents(t *testing.T) {
	d := filepath.Join(sharedData(t), "sigma", "rules", "linux")
	e, err := New(Config{SigmaDirs: []string{d}, RuleDirs: []string{t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	conn := func(exe, remote string, lport, rport uint16) *schemas.TelemetryEvent {
		return &schemas.TelemetryEvent{Kind: schemas.KindConnection, Host: "h", Conn: &schemas.Connection{Action: "opened", Proto: "tcp",
			LocalAddr: "192.0.2.10", LocalPort: lport, RemoteAddr: remote, RemotePort: rport, PID: 42, Exe: exe, Process: filepath.Base(exe)}}
	}
	exec := func(exe, cmd string) *schemas.TelemetryEvent {
		return &schemas.TelemetryEvent{Kind: schemas.KindProcessExec, Host: "h", Process: &schemas.Process{PID: 42, Name: filepath.Base(exe), Exe: exe, Cmdline: cmd, UID: 1000, EUID: 1000,
			Ancestry: []schemas.Ancestor{{PID: 41, Exe: "/usr/bin/bash", Cmdline: "bash", UID: 1000, EUID: 1000}}}}
	}
	cases := []struct {
		name string
		ev   *schemas.TelemetryEvent
		rule string
		want bool
	}{
		{"bash connecting out", conn("/usr/bin/bash", "203.0.113.5", 40000, 443), "83dcd9f6-9ca8-4af7-a16e-a1c7a6b51871", true},
		{"bash to loopback", conn("/usr/bin/bash", "127.0.0.1", 40000, 443), "83dcd9f6-9ca8-4af7-a16e-a1c7a6b51871", false},
		{"callback port outbound", conn("/usr/bin/curl", "203.0.113.5", 45000, 4444), "dbfc7c98-04ab-4ab7-aa94-c74d22aa7376", true},
		{"callback port to a private range", conn("/usr/bin/curl", "10.2.3.4", 45000, 4444), "dbfc7c98-04ab-4ab7-aa94-c74d22aa7376", false},
		{"callback port not initiated here", conn("/usr/bin/curl", "203.0.113.5", 4444, 51000), "dbfc7c98-04ab-4ab7-aa94-c74d22aa7376", false},
		{"base64 decode", exec("/usr/bin/base64", "base64 -d payload.b64"), "", true},
		{"ls", exec("/usr/bin/ls", "ls -la"), "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := e.Evaluate(c.ev)
			got := false
			for _, m := range v.Matches {
				if c.rule == "" || m.Rule.ID == c.rule {
					got = true
				}
			}
			if got != c.want {
				var ids []string
				for _, m := range v.Matches {
					ids = append(ids, m.Rule.ID+" "+m.Rule.Title)
				}
				t.Fatalf("matched %v, want rule %q = %v", ids, c.rule, c.want)
			}
		})
	}
}
