package replay

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	_ "github.com/amoskys/amoskys/plugins/all"
	"github.com/amoskys/amoskys/schemas"
)

const ruleTemplate = `title: Test tool started
id: amoskys-test-tool
status: experimental
description: A test rule the replay diff test edits.
logsource:
    product: linux
    category: process_creation
detection:
    selection:
        Image|endswith: '/%s'
    condition: selection
level: high
`

// execs makes process_exec events of nc and curl on two hosts, one every 10 s.
func execs(n int) []*schemas.TelemetryEvent {
	var out []*schemas.TelemetryEvent
	for i := 0; i < n; i++ {
		name := []string{"nc", "curl", "ls"}[i%3]
		host := []string{"h1", "h2"}[i%2]
		ts := t0.Add(time.Duration(i) * 10 * time.Second)
		out = append(out, &schemas.TelemetryEvent{SchemaVersion: 1, ID: fmt.Sprintf("x-%04d", i), Kind: schemas.KindProcessExec,
			Time: ts, Host: host, Source: "process",
			Process: &schemas.Process{PID: int32(2000 + i), PPID: 1, StartTime: ts, Name: name, Exe: "/usr/bin/" + name,
				Cmdline: name, UID: 1000, EUID: 1000,
				Ancestry: []schemas.Ancestor{{PID: 1, Name: "systemd", Exe: "/usr/lib/systemd/systemd"}}}})
	}
	return out
}

// TestDiffEditedRuleThroughDetectChain replays the same events through pipelines/detect.yaml with
// a rule file before and after an edit (nc -> curl): the diff shows exactly the alerts the edit
// removes and adds.
func TestDiffEditedRuleThroughDetectChain(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	pipeline := filepath.Join(root, "pipelines", "detect.yaml")
	if _, err := os.Stat(pipeline); err != nil {
		t.Skipf("no detect pipeline: %v", err)
	}
	rules := t.TempDir()
	t.Setenv("AMOSKYS_RULES_DIR", rules)
	t.Setenv("AMOSKYS_MODELS_DIR", t.TempDir())
	evs := execs(120)
	run := func(tool string) *Result {
		require.NoError(t, os.WriteFile(filepath.Join(rules, "test_tool.yml"), []byte(fmt.Sprintf(ruleTemplate, tool)), 0o600))
		res, err := Run(t.Context(), Options{Pipeline: pipeline, Source: &sliceSource{evs: evs}, BatchSize: 50})
		require.NoError(t, err)
		return res
	}
	before := run("nc")
	require.NotEmpty(t, before.Alerts, "the nc rule raises alerts")
	again := run("nc")
	require.Equal(t, alertsJSON(t, before.Alerts), alertsJSON(t, again.Alerts), "deterministic through the detect chain")
	after := run("curl")
	d := Compare(before.RunID, Summaries(before.Alerts), Summaries(after.Alerts))
	var sb strings.Builder
	d.Print(&sb, after.RunID)
	t.Log(sb.String())
	// Alerts dedupe per host and entity: one nc alert and one curl alert on each of the two hosts.
	require.Len(t, d.Removed, 2)
	require.Len(t, d.Added, 2)
	require.Empty(t, d.Rescored)
	for _, s := range d.Removed {
		require.Contains(t, s.Key.Entity+s.Key.Title+s.Key.Cause, "nc", "removed: %v", s.Key)
	}
	for _, s := range d.Added {
		require.Contains(t, s.Key.Entity+s.Key.Title+s.Key.Cause, "curl", "added: %v", s.Key)
	}
}
