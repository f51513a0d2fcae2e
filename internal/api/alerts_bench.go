package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/amoskys/amoskys/clickhouse"
	"github.com/amoskys/amoskys/internal/config"
	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/schemas"
)

// BenchAPIOptions configures `amoskys bench api`.
type BenchAPIOptions struct {
	Alerts      int           // alerts stored in the warehouse before the load
	DSN         string        // warehouse; empty: a fresh embedded one in a temporary directory
	Duration    time.Duration // of each wrk run
	Threads     int           // wrk -t
	Connections int           // wrk -c
}

// BenchRun is one wrk run.
type BenchRun struct {
	Name      string
	Command   string
	ReqPerSec float64
	P50, P99  time.Duration
	Non2xx    int64
}

// SyntheticAlert is the i-th alert of the benchmark's corpus: 50 hosts, 2000 executables, the
// four severities, two or three layers with reasons.
func SyntheticAlert(i int, t0 time.Time) *schemas.AlertEvent {
	at := t0.Add(time.Duration(i) * 50 * time.Millisecond)
	sev := schemas.Severities[(i*7)%4]
	g, tmp := 0.3+float64(i%7)/10, 0.2+float64(i%5)/10
	layers := []schemas.LayerBreakdown{
		{Layer: schemas.LayerGeometric, Score: &g, Weight: 0.67, Contribution: 0.67 * g, Reasons: []schemas.Reason{{
			ID: fmt.Sprintf("rule_%02d", i%40), Title: "Suspicious process tree", Score: g, Level: "high",
			Text: "a shell spawned under a network daemon", Tags: []string{"attack.execution", "attack.t1059"}}}},
		{Layer: schemas.LayerTemporal, Score: &tmp, Weight: 0.33, Contribution: 0.33 * tmp, Reasons: []schemas.Reason{{
			ID: "spike:cpu.user", Score: tmp, Text: "cpu.user 94% is 6.2 robust σ above its 1 h baseline 12% ± 3%"}}},
		{Layer: schemas.LayerIForest, Abstain: "no model"},
	}
	host := fmt.Sprintf("host%02d", i%50)
	return &schemas.AlertEvent{SchemaVersion: schemas.AlertVersion, ID: fmt.Sprintf("bench%08d", i), Version: 1, Time: at,
		Host: host, EntityKind: "process", Entity: fmt.Sprintf("/usr/bin/tool%04d", i%2000),
		EntityKey: fmt.Sprintf("proc:%d@%d", 1000+i%30000, at.Unix()), Title: "Suspicious process tree on tool",
		Summary: "HIGH score 0.71 on " + host + ": geometric 0.80; temporal 0.60", Severity: sev, Score: 0.71,
		Layers: layers, Tags: []string{"attack.execution", "attack.t1059"}, EvidenceIDs: []string{fmt.Sprintf("ev%08d", i)},
		Count: int64(1 + i%3), FirstSeen: at, LastSeen: at, Status: schemas.StatusOpen, Cause: "geometric:rule"}
}

// BenchAPI stores opts.Alerts alerts, starts the API on loopback and loads it with wrk: the
// recent page (the target), a filtered page, and /healthz as the baseline of the same server.
func BenchAPI(ctx context.Context, opts BenchAPIOptions, log io.Writer) ([]BenchRun, error) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return nil, errors.New("wrk not found: apt-get install -y wrk")
	}
	dsn := opts.DSN
	if dsn == "" {
		dir, err := os.MkdirTemp("", "amoskys-bench-api-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		dsn = "chdb://" + dir
	}
	w, err := warehouse.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	if err := warehouse.Migrate(ctx, w, clickhouse.Migrations()); err != nil {
		return nil, err
	}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	const batch = 20000
	have := 0
	if b, err := w.Query(ctx, "SELECT count() FROM alerts WHERE startsWith(id, 'bench')", "TabSeparated"); err == nil {
		have, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if have >= opts.Alerts {
		fmt.Fprintf(log, "the warehouse already holds %d benchmark alerts: not storing again\n", have)
	}
	for i := 0; have < opts.Alerts && i < opts.Alerts; i += batch {
		n := min(batch, opts.Alerts-i)
		as := make([]*schemas.AlertEvent, n)
		for j := range as {
			as[j] = SyntheticAlert(i+j, t0)
		}
		if err := warehouse.InsertAlerts(ctx, w, as); err != nil {
			return nil, fmt.Errorf("storing alerts: %w", err)
		}
	}
	if have < opts.Alerts {
		fmt.Fprintf(log, "stored %d alerts in %s\n", opts.Alerts, time.Since(start).Round(time.Millisecond))
	}
	out, err := w.Query(ctx, "SELECT count() FROM alerts", "TabSeparated")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "alerts table rows: %s", out)

	cfg := config.Default()
	cfg.BaseDir, err = os.MkdirTemp("", "amoskys-bench-api-cfg-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(cfg.BaseDir)
	tokb := make([]byte, 16)
	_, _ = rand.Read(tokb)
	tok := hex.EncodeToString(tokb)
	start = time.Now()
	srv, err := New(Deps{Config: cfg, Warehouse: w}, tok)
	if err != nil {
		return nil, err
	}
	<-procWarm
	fmt.Fprintf(log, "API up, recent index warmed with %d alerts from the warehouse in %s\n",
		procStore.Index.Len(), time.Since(start).Round(time.Millisecond))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown(context.Background())
	base := "http://" + ln.Addr().String()

	targets := []struct{ name, path string }{
		{"baseline: static /dashboard/style.css (same server, no alert work)", "/dashboard/style.css"},
		{"recent limit=50", "/api/alerts/recent?limit=50"},
		{"recent limit=50 severity=CRITICAL host=host07", "/api/alerts/recent?limit=50&severity=CRITICAL&host=host07"},
	}
	var runs []BenchRun
	for _, tg := range targets {
		args := []string{"-t", strconv.Itoa(opts.Threads), "-c", strconv.Itoa(opts.Connections),
			"-d", opts.Duration.String(), "--latency", "-H", "Authorization: Bearer " + tok, base + tg.path}
		cmd := exec.CommandContext(ctx, wrk, args...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			return runs, fmt.Errorf("wrk: %v: %s", err, b)
		}
		r := parseWrk(string(b))
		r.Name = tg.name
		r.Command = "wrk " + strings.Join(redactArgs(args), " ")
		runs = append(runs, r)
		fmt.Fprintf(log, "%-60s %10.0f req/s  p50 %-9s p99 %-9s non-2xx %d\n", r.Name, r.ReqPerSec, r.P50, r.P99, r.Non2xx)
	}
	// one deep page, past the in-memory index: answered by the warehouse
	if o, ok := procStore.Index.Oldest(); ok {
		c := fmt.Sprintf("%d_%s", o.Time.UnixMicro(), o.ID)
		st := time.Now()
		req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/alerts/recent?limit=50&cursor="+c, nil)
		if err != nil {
			return runs, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return runs, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(log, "deep page past the index (warehouse): HTTP %d, %d bytes in %s\n", resp.StatusCode, len(body), time.Since(st).Round(time.Millisecond))
	}
	return runs, nil
}

func redactArgs(args []string) []string {
	out := append([]string(nil), args...)
	for i, a := range out {
		if strings.HasPrefix(a, "Authorization: Bearer ") {
			out[i] = "'Authorization: Bearer $TOKEN'"
		}
	}
	return out
}

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkPct     = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	unitFactor = map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}
)

// parseWrk reads requests/s and the 50th and 99th percentiles from wrk --latency output.
func parseWrk(out string) BenchRun {
	var r BenchRun
	if m := wrkRPS.FindStringSubmatch(out); m != nil {
		r.ReqPerSec, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, m := range wrkPct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		d := time.Duration(math.Round(v*float64(unitFactor[m[3]]/time.Microsecond))) * time.Microsecond
		if m[1] == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return r
}
