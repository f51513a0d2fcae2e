package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/api"
	"github.com/amoskys/amoskys/internal/config"
	"github.com/amoskys/amoskys/internal/metrics"
	"github.com/amoskys/amoskys/plugins/warehouse"
)

// One chDB engine per process: every test shares this warehouse directory, and TestMain keeps a
// handle open so the engine lives across tests.
var (
	whDSN   string
	whErr   error
	fixture string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "amoskys-runner-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	whDSN = "chdb://" + dir
	var w warehouse.Warehouse
	w, whErr = warehouse.Open(context.Background(), whDSN)
	fixture, _ = filepath.Abs("../../testdata/run")
	code := m.Run()
	if w != nil {
		_ = w.Close()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func needWarehouse(t *testing.T) {
	t.Helper()
	if whErr != nil {
		if os.Getenv("AMOSKYS_REQUIRE_DEPS") == "1" || !errors.Is(whErr, warehouse.ErrLibraryMissing) {
			t.Fatalf("embedded warehouse: %v", whErr)
		}
		t.Skipf("embedded warehouse unavailable: %v", whErr)
	}
}

// loadConfig writes a config.yaml in a temp dir (the data dir beside it) and loads it strictly.
func loadConfig(t *testing.T, body string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	body = strings.ReplaceAll(body, "FIXTURE", fixture)
	body = strings.ReplaceAll(body, "WAREHOUSE", whDSN)
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	c, err := config.Load(path, config.Options{})
	require.NoError(t, err)
	c.API.Listen = "127.0.0.1:0" // any free port
	return c
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var v map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &v), "line %d is whole JSON", n+1)
		n++
	}
	require.NoError(t, sc.Err())
	return n
}

func TestRunServesAndStopsCleanly(t *testing.T) {
	needWarehouse(t)
	c := loadConfig(t, `
host_id: run-test
warehouse: {dsn: "WAREHOUSE"}
pipelines:
  - {name: ticker, file: FIXTURE/ticker.yaml}
  - {name: finite, file: FIXTURE/finite.yaml}
`)
	t.Setenv(c.API.TokenEnv, "secret-for-test")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c, Options{Logger: quiet, OnReady: func(a net.Addr) { ready <- a }}) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run ended early: %v", err)
	}
	base := "http://" + addr.String()

	// The finite pipeline ends by itself; the ticker keeps running.
	var h api.HealthBody
	require.Eventually(t, func() bool {
		code, body := get(t, base+"/healthz")
		require.Equal(t, 200, code, body)
		require.NoError(t, json.Unmarshal([]byte(body), &h))
		return len(h.Pipelines) == 2 && h.Pipelines[1].State == StateFinished
	}, 20*time.Second, 20*time.Millisecond)
	require.Equal(t, "ok", h.Status)
	require.Equal(t, api.PipelineStatus{Name: "ticker", State: StateRunning}, h.Pipelines[0])
	require.Equal(t, &api.WarehouseHealth{Backend: "chdb", OK: true}, h.Warehouse)

	// Env vars were exported before the streams were built.
	require.Equal(t, "run-test", os.Getenv("AMOSKYS_HOST_ID"))
	require.Equal(t, c.Path(c.DataDir), os.Getenv("AMOSKYS_DATA_DIR"))

	// Benthos metrics reach /metrics through the amoskys_prometheus exporter.
	require.Eventually(t, func() bool {
		_, body := get(t, base+"/metrics")
		return strings.Contains(body, `benthos_output_sent_total{label="",path="root.output",stream="ticker"}`)
	}, 10*time.Second, 20*time.Millisecond)

	// /api/sql works through the running instance's warehouse (migrated at start).
	req, _ := http.NewRequest("POST", base+"/api/sql", strings.NewReader(`{"query":"SELECT count() FROM schema_migrations","format":"tsv"}`))
	req.Header.Set("Authorization", "Bearer secret-for-test")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(b))
	require.NotEqual(t, "count()\n0\n", string(b))

	// `amoskys sql` finds the running instance and goes through its /api/sql.
	cc := *c
	cc.API.Listen = addr.String()
	res, via, err := api.Query(t.Context(), &cc, "SELECT 6 * 7 AS x;", api.FormatTSV)
	require.NoError(t, err)
	require.Equal(t, api.ViaAPI, via)
	require.Equal(t, "x\n42\n", string(res.Body))
	_, via, err = api.Query(t.Context(), &cc, "INSERT INTO alerts SELECT * FROM alerts", api.FormatTSV)
	require.Equal(t, api.ViaAPI, via)
	var ae *api.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 403, ae.Status)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("run did not stop")
	}
	require.Equal(t, 25, countLines(t, filepath.Join(c.Path(c.DataDir), "finite.jsonl")))
	require.Positive(t, countLines(t, filepath.Join(c.Path(c.DataDir), "ticker.jsonl")))
	_, err = net.Dial("tcp", addr.String())
	require.Error(t, err, "the API is closed")
}

func TestRunWithoutAPIEndsWhenPipelinesEnd(t *testing.T) {
	needWarehouse(t)
	c := loadConfig(t, `
warehouse: {dsn: "WAREHOUSE"}
api: {enabled: false}
metrics: {enabled: false}
pipelines:
  - {name: finite, file: FIXTURE/finite.yaml}
`)
	require.NoError(t, Run(t.Context(), c, Options{Logger: quiet}))
	require.Equal(t, 25, countLines(t, filepath.Join(c.Path(c.DataDir), "finite.jsonl")))
}

func TestRunRoleAPIStartsNoPipelines(t *testing.T) {
	needWarehouse(t)
	c := loadConfig(t, `
role: api
warehouse: {dsn: "WAREHOUSE"}
pipelines:
  - {name: finite, file: FIXTURE/finite.yaml}
`)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, c, Options{Logger: quiet, OnReady: func(a net.Addr) {
			_, body := get(t, "http://"+a.String()+"/healthz")
			require.Contains(t, body, `"pipelines":[]`)
			cancel()
		}})
	}()
	require.NoError(t, <-done)
	_, err := os.Stat(filepath.Join(c.Path(c.DataDir), "finite.jsonl"))
	require.True(t, os.IsNotExist(err))
	// No token in the environment: one was generated into data_dir/api-token.
	fi, err := os.Stat(api.TokenPath(c))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

// An agent collects and publishes only: no warehouse is opened, /healthz says so.
func TestRunRoleAgentOpensNoWarehouse(t *testing.T) {
	c := loadConfig(t, `
role: agent
warehouse: {dsn: "chdb:///nonexistent/never-opened"}
bus: {dsn: "sqlite://./data/bus.db", partitions: 4}
pipelines:
  - {name: finite, file: FIXTURE/finite.yaml}
`)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, c, Options{Logger: quiet, OnReady: func(a net.Addr) {
			code, body := get(t, "http://"+a.String()+"/healthz")
			require.Equal(t, 200, code)
			require.NotContains(t, body, `"warehouse"`)
			cancel()
		}})
	}()
	require.NoError(t, <-done)
	require.Equal(t, "4", os.Getenv("AMOSKYS_BUS_PARTITIONS"))
}

func TestRunErrors(t *testing.T) {
	needWarehouse(t)
	// The API port is taken: Run fails with the address in the message and stops its streams.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	c := loadConfig(t, `
warehouse: {dsn: "WAREHOUSE"}
pipelines:
  - {name: ticker, file: FIXTURE/ticker.yaml}
`)
	c.API.Listen = ln.Addr().String()
	err = Run(t.Context(), c, Options{Logger: quiet, StopTimeout: 5 * time.Second})
	require.ErrorContains(t, err, "api: listening on "+ln.Addr().String())

	// A pipeline that lints but cannot be built.
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("input:\n  generate:\n    mapping: 'root = this.'\noutput:\n  drop: {}\n"), 0o600))
	c = loadConfig(t, `warehouse: {dsn: "WAREHOUSE"}`)
	c.Pipelines = []config.Pipeline{{Name: "bad", File: bad}}
	err = Run(t.Context(), c, Options{Logger: quiet})
	require.ErrorContains(t, err, `pipeline "bad"`)
}

func TestRetentionDays(t *testing.T) {
	c := config.Default()
	for in, want := range map[string]int{"1h": 1, "24h": 1, "25h": 2, "30d": 30, "3650d": 3650} {
		d, err := config.ParseDuration(in)
		require.NoError(t, err)
		c.Warehouse.Retention = d
		require.Equal(t, want, RetentionDays(c), in)
	}
}

// quiet keeps test output readable; the runner's logging is exercised by `amoskys run` itself.
var quiet = slog.New(slog.DiscardHandler)

func TestPrefixMux(t *testing.T) {
	mux := http.NewServeMux()
	a := &prefixMux{prefix: "/collect", mux: mux}
	b := &prefixMux{prefix: "/detect", mux: mux}
	a.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("collect")) })
	a.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("again")) }) // ignored
	b.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("detect")) })
	b.HandleFunc("bad pattern [", func(http.ResponseWriter, *http.Request) {}) // refused by ServeMux: no panic
	for path, want := range map[string]string{"/collect/ready": "collect", "/detect/ready": "detect"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		require.Equal(t, want, rec.Body.String())
	}
}

// benthos_http.enabled serves Benthos' own endpoints on its address while run runs.
func TestRunBenthosHTTP(t *testing.T) {
	needWarehouse(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	c := loadConfig(t, `
warehouse: {dsn: "WAREHOUSE"}
api: {enabled: false}
benthos_http: {enabled: true, listen: "`+addr+`"}
pipelines:
  - {name: ticker, file: FIXTURE/ticker.yaml}
`)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, c, Options{Logger: quiet, OnReady: func(net.Addr) {
			code, _ := get(t, "http://"+addr+"/ticker/no-such-endpoint")
			require.Equal(t, 404, code)
			cancel()
		}})
	}()
	require.NoError(t, <-done)
	_, err = net.Dial("tcp", addr)
	require.Error(t, err, "the Benthos HTTP server is closed")
}

// Stopping mid-stream loses nothing acknowledged: every message the output counted as sent is in
// the file once run has returned.
func TestStopFlushesWhatWasSent(t *testing.T) {
	needWarehouse(t)
	c := loadConfig(t, `
warehouse: {dsn: "WAREHOUSE"}
api: {enabled: false}
pipelines:
  - {name: drain_check, file: FIXTURE/ticker.yaml}
`)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c, Options{Logger: quiet, OnReady: func(net.Addr) {}}) }()
	out := filepath.Join(c.Path(c.DataDir), "ticker.jsonl")
	require.Eventually(t, func() bool {
		fi, err := os.Stat(out)
		return err == nil && fi.Size() > 2000
	}, 20*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	sent := -1.0
	mfs, err := metrics.Registry.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "benthos_output_sent_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == metrics.StreamLabel && l.GetValue() == "drain_check" {
					sent = m.GetCounter().GetValue()
				}
			}
		}
	}
	require.Positive(t, sent)
	require.Equal(t, int(sent), countLines(t, out))
}
