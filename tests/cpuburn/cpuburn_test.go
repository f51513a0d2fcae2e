// Package cpuburn holds issue 7's CPU-burn must-show. It is its own package, so its own test
// process: its alerts live in the process-wide alert store, which the dashboard test of
// tests/e2e must not see.
package cpuburn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/amoskys/amoskys/internal/alertstore"
	"github.com/amoskys/amoskys/internal/config"
	"github.com/amoskys/amoskys/internal/runner"
	_ "github.com/amoskys/amoskys/plugins/all"
	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/schemas"
)

const burnHost = "e2e-cpu-burn"

const token = "cpuburn-token-0123456789abcdef"

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, parent, dir, "go.mod not found")
		dir = parent
	}
}

// TestCPUBurnAlertOnDefaultConfig is issue 7's must-show on the embedded default: `amoskys run`
// with the repository's config.yaml (collect and detect pipelines as shipped, embedded chDB),
// then a real busy loop (`sh -c 'while :; do :; done'`) started on this host. The new process
// has no baseline of its own; the temporal layer's population prior judges it against the other
// processes of the host, and its alert must be in /api/alerts/recent with a temporal reason about
// that process, decided at the end of at most its second one-minute window (event time: windows
// are counted from the process' start time as /proc gives it, never from the wall clock).
//
// It takes three to four one-minute windows of real time (the default window), mostly waiting.
func TestCPUBurnAlertOnDefaultConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs three one-minute windows of real time")
	}
	root := moduleRoot(t)
	c, err := config.Load(filepath.Join(root, "config.yaml"), config.Options{})
	require.NoError(t, err)
	tmp := t.TempDir()
	c.DataDir = tmp
	c.HostID = burnHost
	c.Warehouse.DSN = "chdb://" + filepath.Join(tmp, "warehouse")
	c.API.Listen = "127.0.0.1:0"
	c.Log.Level = "warn"
	t.Setenv(c.API.TokenEnv, token)
	// ExportEnv (called by Run) sets these for the pipelines; restore them after the test.
	for k := range c.Env() {
		if v, ok := os.LookupEnv(k); ok {
			t.Setenv(k, v)
		} else {
			t.Cleanup(func() { os.Unsetenv(k) })
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute) // generous: at most 4 minutes are needed
	defer cancel()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx, c, runner.Options{OnReady: func(a net.Addr) { ready <- a }}) }()
	var base string
	select {
	case a := <-ready:
		base = "http://" + a.String()
	case err := <-done:
		if errors.Is(err, warehouse.ErrLibraryMissing) && os.Getenv("AMOSKYS_REQUIRE_DEPS") != "1" {
			t.Skipf("embedded warehouse unavailable: %v", err)
		}
		t.Fatalf("amoskys run ended before it was ready: %v", err)
	}
	defer func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(90 * time.Second):
			t.Error("amoskys run did not stop")
		}
	}()
	started := time.Now()

	// The population the prior needs is the run's first window of sampled process vectors (the
	// collector samples the 20 busiest processes every 5 s, from its second snapshot on). Start
	// the burner at the beginning of the next window, or of the one after when the run started
	// too late in its first window to sample much (scheduling only: nothing is measured on the
	// wall clock).
	next := started.Truncate(time.Minute).Add(time.Minute + 3*time.Second)
	if started.Sub(started.Truncate(time.Minute)) > 40*time.Second {
		next = next.Add(time.Minute)
	}
	select {
	case <-time.After(time.Until(next)):
	case err := <-done:
		t.Fatalf("amoskys run ended: %v", err)
	}
	burner := exec.Command("/bin/sh", "-c", "while :; do :; done")
	burner.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with the test
	require.NoError(t, burner.Start())
	pid := burner.Process.Pid
	// A burn is a process that gets the CPU: on a test machine busy with the rest of the suite a
	// plain loop may get a quarter of a core, so raise its priority when allowed (root).
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, pid, -10); err != nil {
		t.Logf("burner keeps its priority: %v", err)
	}
	stopBurner := func() {
		if burner.Process != nil {
			_ = burner.Process.Kill()
			_, _ = burner.Process.Wait()
			burner.Process = nil
		}
	}
	defer stopBurner()

	// Poll until the burner's process has an alert with a temporal score.
	prefix := "proc:" + strconv.Itoa(pid) + "@"
	var found *schemas.AlertEvent
	for found == nil {
		var p struct {
			Alerts []schemas.AlertEvent `json:"alerts"`
		}
		code, body := apiGet(t, ctx, base+"/api/alerts/recent?limit=200&host="+burnHost)
		require.Equal(t, 200, code, body)
		require.NoError(t, json.Unmarshal([]byte(body), &p))
		for i := range p.Alerts {
			a := &p.Alerts[i]
			if strings.HasPrefix(a.EntityKey, prefix) && layer(a, schemas.LayerTemporal) != nil && layer(a, schemas.LayerTemporal).Score != nil {
				found = a
			}
		}
		if found != nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no alert with a temporal score for the burner (pid %d, key %s*) in /api/alerts/recent; alerts of the host:\n%s", pid, prefix, describeAlerts(p.Alerts))
		case err := <-done:
			t.Fatalf("amoskys run ended: %v", err)
		case <-time.After(time.Second):
		}
	}
	stopBurner()
	a := found
	t.Logf("burner pid %d; alert %s %s %.2f %q, time %s:\n%s", pid, a.ID, a.Severity, a.Score, a.Title, a.Time.Format(time.RFC3339), describeAlerts([]schemas.AlertEvent{*a}))

	// Event time: the decision came at the end of the burner's first or second window.
	startUnix, err := strconv.ParseInt(strings.TrimPrefix(a.EntityKey, prefix), 10, 64)
	require.NoError(t, err, a.EntityKey)
	start := time.Unix(startUnix, 0).UTC()
	firstEnd := start.Truncate(time.Minute).Add(time.Minute)
	decided := a.Time // the event time of the alert's first score (a later window may re-score it)
	if len(a.History) > 0 {
		decided = a.History[0].Time
	}
	windows := int(decided.Sub(firstEnd)/time.Minute) + 1
	require.False(t, decided.Before(firstEnd), "decided at %s, before the end %s of the window the process started in", decided, firstEnd)
	require.LessOrEqual(t, windows, 2, "process started %s: decided at the end of window %d (%s)", start, windows, decided)

	// An alert by the shipped fuse config: at or above its min_score, with a severity (a burn
	// that gets a whole core scores MEDIUM or HIGH; one starved by a busy machine may be LOW).
	require.GreaterOrEqual(t, a.Score, fuseMinScore(t, root))
	require.Contains(t, []schemas.Severity{schemas.SeverityLow, schemas.SeverityMedium, schemas.SeverityHigh, schemas.SeverityCritical}, a.Severity)
	require.Equal(t, "process", a.EntityKind)

	// The temporal reason is about this process' CPU, against its population.
	tl := layer(a, schemas.LayerTemporal)
	var reason *schemas.Reason
	for i := range tl.Reasons {
		if tl.Reasons[i].ID == "temporal:cpu_percent" {
			reason = &tl.Reasons[i]
		}
	}
	require.NotNil(t, reason, "temporal reasons: %+v", tl.Reasons)
	require.Contains(t, reason.Text, "cpu_percent")
	require.Contains(t, reason.Text, "σ above the median")
	require.Contains(t, reason.Text, "recent process vectors on this host")
	require.Equal(t, "population", reason.Evidence["baseline_of"])
	v, err := strconv.ParseFloat(reason.Evidence["value"], 64)
	require.NoError(t, err)
	require.Greater(t, v, 20.0, "the burner's CPU")

	// Every layer that judged the feature vector is in the breakdown: iforest scores it when a
	// model is present (models/iforest.json) and abstains, saying why, when none is.
	il := layer(a, schemas.LayerIForest)
	require.NotNil(t, il, "iforest judged the same vector: %s", describeAlerts([]schemas.AlertEvent{*a}))
	if _, err := os.Stat(filepath.Join(root, "models", "iforest.json")); err == nil {
		require.NotNil(t, il.Score)
	} else {
		require.Nil(t, il.Score)
		require.Contains(t, il.Abstain, "no isolation forest model")
	}

	// The same alert through GET /api/alerts/{id} and in the host's /api/stats.
	code, body := apiGet(t, ctx, base+"/api/alerts/"+a.ID)
	require.Equal(t, 200, code, body)
	code, body = apiGet(t, ctx, base+"/api/stats?host="+burnHost+"&since="+strconv.FormatInt(start.Add(-time.Hour).Unix(), 10)+"&bucket=1m")
	require.Equal(t, 200, code, body)
	var st alertstore.Stats
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	require.Positive(t, st.ByLayer[schemas.LayerTemporal])
	require.Equal(t, []string{burnHost}, keys(st.ByHost))
}

// fuseMinScore reads the fuse stage's min_score from the shipped pipelines/detect.yaml.
func fuseMinScore(t *testing.T, root string) float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "pipelines", "detect.yaml"))
	require.NoError(t, err)
	var doc struct {
		Pipeline struct {
			Processors []struct {
				Fuse *struct {
					MinScore *float64 `yaml:"min_score"`
				} `yaml:"fuse"`
			} `yaml:"processors"`
		} `yaml:"pipeline"`
	}
	require.NoError(t, yaml.Unmarshal(b, &doc))
	for _, p := range doc.Pipeline.Processors {
		if p.Fuse != nil && p.Fuse.MinScore != nil {
			return *p.Fuse.MinScore
		}
	}
	t.Fatal("pipelines/detect.yaml: no fuse stage with min_score")
	return 0
}

func layer(a *schemas.AlertEvent, name string) *schemas.LayerBreakdown {
	for i := range a.Layers {
		if a.Layers[i].Layer == name {
			return &a.Layers[i]
		}
	}
	return nil
}

func keys(m map[string]int64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func apiGet(t *testing.T, ctx context.Context, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func describeAlerts(as []schemas.AlertEvent) string {
	var b strings.Builder
	for _, a := range as {
		fmt.Fprintf(&b, "  %s %s %.2f %s %q time %s\n", a.Severity, a.EntityKey, a.Score, a.Entity, a.Title, a.Time.Format(time.RFC3339))
		for _, l := range a.Layers {
			s := "abstain: " + l.Abstain
			if l.Score != nil {
				s = strconv.FormatFloat(*l.Score, 'f', 3, 64)
			}
			fmt.Fprintf(&b, "    %s %s\n", l.Layer, s)
			for _, r := range l.Reasons {
				fmt.Fprintf(&b, "      %s: %s\n", r.ID, r.Text)
			}
		}
	}
	return b.String()
}
