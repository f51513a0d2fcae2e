// Package e2e drives the whole product from outside: a real fuse and alert pipeline, the API and
// the Cortex dashboard in a real headless Chromium.
package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/amoskys/amoskys/internal/api"
	"github.com/amoskys/amoskys/internal/config"
	"github.com/amoskys/amoskys/internal/envelope"
	_ "github.com/amoskys/amoskys/processors/alert"
	_ "github.com/amoskys/amoskys/processors/fuse"
	"github.com/amoskys/amoskys/schemas"
)

const token = "e2e-token-0123456789abcdef"

// chromium finds the browser, or skips (fails with AMOSKYS_REQUIRE_DEPS=1).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("AMOSKYS_REQUIRE_DEPS") == "1" {
		t.Fatal("chromium not found: run scripts/deps/50-chromium.sh")
	}
	t.Skip("chromium not found (install with scripts/deps/50-chromium.sh)")
	return ""
}

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

// detect runs the real fuse and alert processors; the returned func injects one event with its
// layer results, as the layers upstream would have attached them.
func detect(t *testing.T, ctx context.Context) func(*schemas.TelemetryEvent, ...schemas.LayerResult) {
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: none"))
	produce, err := sb.AddBatchProducerFunc()
	require.NoError(t, err)
	require.NoError(t, sb.AddProcessorYAML("fuse: {}"))
	require.NoError(t, sb.AddProcessorYAML("alert: { update_interval: 0s }"))
	require.NoError(t, sb.AddOutputYAML("drop: {}"))
	stream, err := sb.Build()
	require.NoError(t, err)
	go func() { _ = stream.Run(ctx) }()
	t.Cleanup(func() { _ = stream.StopWithin(5 * time.Second) })
	return func(ev *schemas.TelemetryEvent, layers ...schemas.LayerResult) {
		m := envelope.NewEvent(ev)
		for _, l := range layers {
			envelope.AddLayer(m, l)
		}
		require.NoError(t, produce(ctx, service.MessageBatch{m}))
	}
}

func score(v float64) *float64 { return &v }

func TestDashboardLiveExpandFilterAck(t *testing.T) {
	chrome := chromium(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	cfg := config.Default()
	cfg.BaseDir = t.TempDir()
	srv, err := api.New(api.Deps{Config: cfg, Pipelines: func() []api.PipelineStatus {
		return []api.PipelineStatus{{Name: "collect", State: "running"}, {Name: "detect", State: "running"}}
	}}, token)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx) // the live stream holds a connection open: do not wait for it
	}()
	base := "http://" + ln.Addr().String()
	inject := detect(t, ctx)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	shots := filepath.Join(moduleRoot(t), "docs", "screenshots")
	require.NoError(t, os.MkdirAll(shots, 0o755))
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(bctx, steps...))
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, sel)
		return strings.TrimSpace(s)
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
		require.NoError(t, err)
		return n
	}
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(shots, name), buf, 0o644))
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	// choose sets a select like a user does: the value, then the change event the page listens to
	choose := func(id, value string) {
		t.Helper()
		ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](fmt.Sprintf(
			`(e => { e.value = %q; return e.dispatchEvent(new Event("change")); })(document.getElementById(%q))`, value, id)))
		require.NoError(t, err)
		require.True(t, ok)
	}
	start := time.Now()
	// gone waits until nothing matches sel (polled in the page)
	gone := func(sel string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf("document.querySelectorAll(%q).length === 0", sel),
				chromedp.WithPollingTimeout(15*time.Second)))
			return err
		})
	}
	step := func(what string) { t.Logf("%6.2fs %s", time.Since(start).Seconds(), what) }

	// token entry, stored in localStorage; the stream goes live; collector status from /healthz
	do(chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(css(`#tokenform button[type="submit"]`)),
		chromedp.WaitVisible(css(`#live.on`)),
		chromedp.WaitVisible(css(`#pipelines .pill.ok`)),
	)
	require.Contains(t, text("#health"), "ok")
	stored, err := chromedp.Run(bctx, chromedp.Evaluate[string](`localStorage.getItem("amoskys_token")`))
	require.NoError(t, err)
	require.Equal(t, token, stored)

	step("live")
	// a setuid shell under a web server: the rule is critical, temporal agrees, iforest abstains
	now := time.Now().UTC().Truncate(time.Millisecond)
	esc := &schemas.TelemetryEvent{SchemaVersion: 1, ID: "ev-setuid-1", Kind: schemas.KindProcessExec, Time: now, Host: "web1", Source: "process",
		Process: &schemas.Process{PID: 4242, PPID: 100, StartTime: now, Name: "sh", Exe: "/tmp/.x/sh", UID: 33, EUID: 0}}
	inject(esc,
		schemas.LayerResult{Layer: "geometric", Score: score(0.9), Time: now, Host: "web1", Reasons: []schemas.Reason{{
			ID: "setuid_shell_under_web", Title: "Privilege escalation", Level: "critical", Score: 0.9,
			Text: "sh runs as euid 0 under www-data (uid 33) from /tmp", Tags: []string{"attack.privilege_escalation", "attack.t1548.001"}}}},
		schemas.LayerResult{Layer: "temporal", Score: score(0.7), Time: now, Host: "web1", Reasons: []schemas.Reason{{
			ID: "rate:proc.exec", Score: 0.7, Text: "process starts 9.1 robust σ above the 1 h baseline"}}},
		schemas.LayerResult{Layer: "iforest", Time: now, Host: "web1", Abstain: "no model trained yet"})
	// a quiet LOW alert on another host
	inject(&schemas.TelemetryEvent{SchemaVersion: 1, ID: "ev-low-1", Kind: schemas.KindProcessExec, Time: now.Add(time.Second), Host: "db1", Source: "process",
		Process: &schemas.Process{PID: 77, StartTime: now, Name: "cron", Exe: "/usr/sbin/cron"}},
		schemas.LayerResult{Layer: "temporal", Score: score(0.35), Time: now, Host: "db1", Reasons: []schemas.Reason{{ID: "level:cpu", Score: 0.35, Text: "cpu level shift"}}})

	do(chromedp.WaitVisible(css(`tr.alert[data-severity="CRITICAL"]`)),
		chromedp.WaitVisible(css(`tr.alert[data-severity="LOW"]`)))
	require.Equal(t, "CRITICAL", text(`tr.alert[data-severity="CRITICAL"] .sev`))
	require.Equal(t, "/tmp/.x/sh", text(`tr.alert[data-severity="CRITICAL"] .entity`))
	require.Equal(t, "web1", text(`tr.alert[data-severity="CRITICAL"] .host`))
	shot("cortex-live.png")

	step("alerts shown")
	// expand: the breakdown shows the three layers, with reasons and the abstention
	do(chromedp.Click(css(`tr.alert[data-severity="CRITICAL"] td.entity`)),
		chromedp.WaitVisible(css(`tr.detail .layer[data-layer="geometric"] .reason`)))
	geo := text(`tr.detail .layer[data-layer="geometric"]`)
	require.Contains(t, geo, "euid 0 under www-data")
	require.Contains(t, geo, "attack.t1548.001")
	require.Contains(t, strings.ToLower(text(`tr.detail .layer[data-layer="iforest"]`)), "abstained")
	require.Contains(t, text(`tr.detail .layer[data-layer="temporal"]`), "robust σ")
	require.Equal(t, 3, count("tr.detail .layer"))
	shot("cortex-breakdown.png")

	step("expanded")
	// filter by severity: only the critical alert stays
	choose("f-severity", "CRITICAL")
	do(gone(`tr.alert[data-severity="LOW"]`))
	require.Equal(t, 1, count("tr.alert"))
	shot("cortex-filtered.png")

	step("severity filtered")
	// filter by host, then by process
	choose("f-severity", "")
	do(chromedp.SendKeys(chromedp.ID("f-host"), "db1\r"))
	do(gone(`tr.alert[data-severity="CRITICAL"]`))
	do(chromedp.WaitVisible(css(`tr.alert[data-severity="LOW"]`)))
	_, err = chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("f-host").value = ""`))
	require.NoError(t, err)
	do(chromedp.SendKeys(chromedp.ID("f-process"), "/tmp/\r"),
		gone(`tr.alert[data-severity="LOW"]`),
		chromedp.WaitVisible(css(`tr.alert[data-severity="CRITICAL"]`)))

	step("host/process filtered")
	// acknowledge from the page; the API records who
	do(chromedp.Click(css(`tr.alert[data-severity="CRITICAL"] button.ack`)),
		chromedp.WaitVisible(css(`tr.alert.status-acknowledged`)))
	require.Equal(t, "acknowledged by "+api.TokenIdentity, text(`tr.alert.status-acknowledged td.status`))

	step("acknowledged")
	// a later iforest result re-scores the same alert live: same row, the iforest layer now speaks, still acknowledged
	inject(&schemas.TelemetryEvent{SchemaVersion: 1, ID: "ev-setuid-2", Kind: schemas.KindProcessExec, Time: now.Add(2 * time.Second), Host: "web1", Source: "process",
		Process: &schemas.Process{PID: 4242, StartTime: now, Name: "sh", Exe: "/tmp/.x/sh"}},
		schemas.LayerResult{Layer: "iforest", Score: score(0.8), Time: now, Host: "web1", Reasons: []schemas.Reason{{ID: "feature:exec_rate", Score: 0.8, Text: "exec_rate far outside training data"}}})
	do(chromedp.WaitVisible(css(`tr.detail .layer[data-layer="iforest"]:not(.abstain) .reason`)))
	require.Equal(t, 1, count("tr.alert"), "the update replaced its row")
	require.Contains(t, text(`tr.detail .layer[data-layer="iforest"]`), "exec_rate far outside training data")
	require.Equal(t, "acknowledged by "+api.TokenIdentity, text(`tr.alert td.status`))
	shot("cortex-rescored.png")
	t.Logf("re-scored to %s; screenshots in %s", text("tr.alert .score"), shots)
	bcancel()
	step("browser closed")
}
