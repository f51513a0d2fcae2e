// Package transport holds the end-to-end fault tests of the bus: real processes of the built
// binary (two agents with different host identities, one detector), a real PostgreSQL started by
// internal/pgtest and the embedded chDB warehouse.
//
//	go test ./tests/transport/                      # 2 x 25k events (skipped with -short)
//	go test ./tests/transport/ -transport.events=500000   # 1M events (make bench)
package transport

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/pgtest"
	"github.com/amoskys/amoskys/plugins/bus"
	"github.com/amoskys/amoskys/plugins/warehouse"
)

var eventsPerAgent = flag.Int("transport.events", 25000, "events each of the two agents publishes")

func moduleRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// needCHDB skips (or fails with AMOSKYS_REQUIRE_DEPS=1) without libchdb.
func needCHDB(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the multi-process fault tests in -short mode")
	}
	for _, p := range warehouse.LibraryCandidates("") {
		if _, err := os.Stat(p); err == nil {
			return
		}
	}
	if os.Getenv("AMOSKYS_REQUIRE_DEPS") == "1" {
		t.Fatalf("AMOSKYS_REQUIRE_DEPS=1: %v", warehouse.ErrLibraryMissing)
	}
	t.Skipf("skipping: %v", warehouse.ErrLibraryMissing)
}

// binary builds cmd/amoskys once per test binary.
var builtBin string

func binary(t *testing.T) string {
	t.Helper()
	if builtBin != "" {
		return builtBin
	}
	dir, err := os.MkdirTemp("", "amoskys-transport-bin-")
	require.NoError(t, err)
	bin := filepath.Join(dir, "amoskys")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/amoskys")
	cmd.Dir = moduleRoot(t)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	builtBin = bin
	return bin
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if builtBin != "" {
		_ = os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func write(t *testing.T, path, content string) string {
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// genPipeline is an agent pipeline whose input makes n valid host_metric events, one a second
// from base (recent: older rows would fall to the warehouse's TTL), for the host
// named by AMOSKYS_HOST_ID, ids <host>-<i>, through normalise to the bus.
func genPipeline(n int, base int64) string {
	return fmt.Sprintf(`
input:
  generate:
    count: %d
    interval: ""
    batch_size: 500
    mapping: |
      let i = count("gen")
      root = {
        "schema_version": 1,
        "id": env("AMOSKYS_HOST_ID") + "-" + $i.string(),
        "kind": "host_metric",
        "time": (%d + $i).ts_format("2006-01-02T15:04:05Z", "UTC"),
        "host": env("AMOSKYS_HOST_ID"),
        "source": "host",
        "metric": {"name": "cpu.user", "value": $i %% 100, "unit": "percent"}
      }
      meta amoskys_type = "telemetry"
pipeline:
  processors:
    - normalise: {}
output:
  bus:
    topic: telemetry
    dsn: ${AMOSKYS_BUS_DSN}
    batching: {count: 1000, period: 100ms}
`, n, base)
}

const detectPipeline = `
input:
  bus:
    topic: telemetry
    consumer_group: detect
    dsn: ${AMOSKYS_BUS_DSN}
    lag_interval: 300ms
output:
  clickhouse:
    dsn: ${AMOSKYS_WAREHOUSE_DSN}
    table: auto
`

type proc struct {
	cmd  *exec.Cmd
	done chan error
	log  string
}

func start(t *testing.T, bin, logPath string, env []string, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(t, cmd.Start())
	p := &proc{cmd: cmd, done: make(chan error, 1), log: logPath}
	go func() { p.done <- cmd.Wait(); _ = f.Close() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) wait(t *testing.T, d time.Duration) error {
	select {
	case err := <-p.done:
		return err
	case <-time.After(d):
		b, _ := os.ReadFile(p.log)
		t.Fatalf("process %v still running after %s; log:\n%s", p.cmd.Args, d, tail(b))
		return nil
	}
}

func tail(b []byte) string {
	s := string(b)
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

// metric reads one sample from a Prometheus text endpoint (-1 when absent).
func metric(url, name string) float64 {
	resp, err := http.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	total, found := 0.0, false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f := strings.Fields(line)
			if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
				total += v
				found = true
			}
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if !found {
		return -1
	}
	return total
}

type setup struct {
	dir, bin, busDSN, whDSN, cfg string
	apiPort                      int
}

func newSetup(t *testing.T, c *pgtest.Cluster, db string) *setup {
	bin := binary(t)
	dsn, err := c.CreateDatabase(db)
	require.NoError(t, err)
	s := &setup{dir: t.TempDir(), bin: bin, busDSN: dsn + "&poll_interval=20ms&batch_size=50"}
	s.whDSN = "chdb://" + filepath.Join(s.dir, "warehouse")
	s.apiPort = freePort(t)
	write(t, filepath.Join(s.dir, "detect.yaml"), detectPipeline)
	write(t, filepath.Join(s.dir, "gen.yaml"), genPipeline(*eventsPerAgent, time.Now().Add(-24*time.Hour).Unix()))
	write(t, filepath.Join(s.dir, "agent.yaml"), "pipeline: gen.yaml\nlisten: \"\"\nlog: {level: warn}\n")
	s.cfg = write(t, filepath.Join(s.dir, "config.yaml"), fmt.Sprintf(`
role: detect
data_dir: %s
warehouse: {dsn: %q}
bus: {dsn: %q}
api: {enabled: true, listen: "127.0.0.1:%d"}
log: {level: warn}
pipelines:
  - {name: detect, file: detect.yaml}
`, filepath.Join(s.dir, "data"), s.whDSN, s.busDSN, s.apiPort))
	return s
}

func (s *setup) env() []string {
	return []string{"AMOSKYS_BUS_DSN=" + s.busDSN, "AMOSKYS_API_TOKEN=transport-test-token"}
}

func (s *setup) agent(t *testing.T, host string) *proc {
	return start(t, s.bin, filepath.Join(s.dir, "agent-"+host+".log"), append(s.env(), "AMOSKYS_HOST_ID="+host),
		"agent", "-c", filepath.Join(s.dir, "agent.yaml"))
}

func (s *setup) detector(t *testing.T) *proc {
	p := start(t, s.bin, filepath.Join(s.dir, "detector.log"), s.env(), "run", "-c", s.cfg)
	health := fmt.Sprintf("http://127.0.0.1:%d/healthz", s.apiPort)
	require.Eventually(t, func() bool {
		select {
		case err := <-p.done:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("detector exited: %v\n%s", err, tail(b))
		default:
		}
		resp, err := http.Get(health)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 2*time.Minute, 100*time.Millisecond, "detector never became healthy")
	return p
}

func (s *setup) metricsURL() string { return fmt.Sprintf("http://127.0.0.1:%d/metrics", s.apiPort) }

// lag is the backlog of group detect on telemetry, read from PostgreSQL the way the gauge is.
func (s *setup) lag(t *testing.T) int64 {
	b, err := bus.Open(s.busDSN)
	require.NoError(t, err)
	defer b.Close()
	n, err := b.Lag(context.Background(), "telemetry", "detect")
	require.NoError(t, err)
	return n
}

// sql runs a query with the binary against the warehouse (nothing running holds it).
func (s *setup) sql(t *testing.T, q string) string {
	cmd := exec.Command(s.bin, "sql", "-c", s.cfg, "--format", "tsv", q)
	cmd.Env = append(os.Environ(), s.env()...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "amoskys sql: %s", out)
	return strings.TrimSpace(string(out))
}

func (s *setup) stop(t *testing.T, p *proc) {
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, p.wait(t, 2*time.Minute), "detector stops cleanly")
}

// checkExactlyOnce asserts every event of both agents is in the warehouse, once after dedup on id.
func (s *setup) checkExactlyOnce(t *testing.T, hosts ...string) {
	n := *eventsPerAgent
	out := s.sql(t, "SELECT host, uniqExact(id), count(), min(toUInt64(splitByChar('-', id)[-1])), max(toUInt64(splitByChar('-', id)[-1])) FROM host_metrics GROUP BY host ORDER BY host")
	lines := strings.Split(out, "\n")
	var rows []string
	for _, l := range lines {
		if strings.Contains(l, "\t") && !strings.HasPrefix(l, "host\t") {
			rows = append(rows, l)
		}
	}
	if len(rows) != len(hosts) {
		t.Logf("tables: %s", s.sql(t, "SELECT table, sum(rows) FROM system.parts WHERE active AND database = currentDatabase() GROUP BY table"))
		t.Logf("dead letters: %s", s.sql(t, "SELECT reason, count() FROM dead_letter GROUP BY reason LIMIT 5"))
		b, _ := os.ReadFile(filepath.Join(s.dir, "detector.log"))
		t.Logf("detector log: %s", tail(b))
	}
	require.Len(t, rows, len(hosts), "rows: %q", out)
	for i, h := range hosts {
		f := strings.Split(rows[i], "\t")
		require.Equal(t, h, f[0])
		uniq, _ := strconv.Atoi(f[1])
		cnt, _ := strconv.Atoi(f[2])
		require.Equal(t, n, uniq, "host %s: every event exactly once after dedup", h)
		require.GreaterOrEqual(t, cnt, uniq)
		require.Equal(t, "1", f[3])
		require.Equal(t, strconv.Itoa(n), f[4])
		t.Logf("host %s: %d distinct events, %d rows (%d redelivered duplicates)", h, uniq, cnt, cnt-uniq)
	}
}

// TestKillDetector: two agents feed one detector through PostgreSQL; the detector is killed with
// SIGKILL mid-stream and restarted; nothing is lost.
func TestKillDetector(t *testing.T) {
	needCHDB(t)
	c := pgtest.Require(t, pgtest.Options{})
	s := newSetup(t, c, "kill")
	total := float64(2 * *eventsPerAgent)

	det := s.detector(t)
	a1, a2 := s.agent(t, "agent-one"), s.agent(t, "agent-two")
	// Kill once the detector has taken a third of the events.
	require.Eventually(t, func() bool {
		return metric(s.metricsURL(), "amoskys_bus_received_events_total") >= total/3
	}, 5*time.Minute, 50*time.Millisecond, "detector never received a third of the events")
	require.NoError(t, det.cmd.Process.Signal(syscall.SIGKILL))
	err := det.wait(t, time.Minute)
	var exitErr *exec.ExitError
	require.True(t, errors.As(err, &exitErr), "killed: %v", err)
	for _, a := range []*proc{a1, a2} {
		require.NoError(t, a.wait(t, 5*time.Minute), "agent finishes publishing")
	}
	require.Greater(t, s.lag(t), int64(0), "the bus holds the backlog while the detector is down")

	det = s.detector(t)
	require.Eventually(t, func() bool { return s.lag(t) == 0 }, 10*time.Minute, 200*time.Millisecond, "backlog drained")
	require.Eventually(t, func() bool {
		return metric(s.metricsURL(), "amoskys_bus_lag") == 0
	}, time.Minute, 100*time.Millisecond, "amoskys_bus_lag shows the drained backlog")
	s.stop(t, det)
	s.checkExactlyOnce(t, "agent-one", "agent-two")
}

// TestWarehouseUnavailable: the warehouse is held by another process while the agents publish;
// the detector cannot start its warehouse, the bus keeps the backlog (lag in amoskys_bus_lag once
// the detector runs), and everything lands when the warehouse is back.
func TestWarehouseUnavailable(t *testing.T) {
	needCHDB(t)
	c := pgtest.Require(t, pgtest.Options{})
	s := newSetup(t, c, "unavail")
	// Another process holds the chDB directory: the warehouse is unavailable to the detector.
	holderCfg := write(t, filepath.Join(s.dir, "holder.yaml"), fmt.Sprintf(`
role: api
data_dir: %s
warehouse: {dsn: %q}
bus: {dsn: "gochannel://"}
api: {enabled: true, listen: "127.0.0.1:%d"}
log: {level: warn}
pipelines: []
`, filepath.Join(s.dir, "holder"), s.whDSN, freePort(t)))
	holder := start(t, s.bin, filepath.Join(s.dir, "holder.log"), s.env(), "run", "-c", holderCfg)
	time.Sleep(2 * time.Second) // let it take the lock; the assertion below checks it did

	a1, a2 := s.agent(t, "agent-one"), s.agent(t, "agent-two")
	blocked := start(t, s.bin, filepath.Join(s.dir, "detector-blocked.log"), s.env(), "run", "-c", s.cfg)
	require.Error(t, blocked.wait(t, 2*time.Minute), "the detector cannot open a warehouse another process holds")
	for _, a := range []*proc{a1, a2} {
		require.NoError(t, a.wait(t, 5*time.Minute))
	}
	backlog := s.lag(t)
	require.EqualValues(t, 2**eventsPerAgent, backlog, "the bus holds every event while the warehouse is away")

	require.NoError(t, holder.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, holder.wait(t, time.Minute))
	det := s.detector(t)
	sawLag := false
	require.Eventually(t, func() bool {
		if v := metric(s.metricsURL(), "amoskys_bus_lag"); v > 0 {
			sawLag = true
		}
		return s.lag(t) == 0
	}, 10*time.Minute, 100*time.Millisecond, "backlog drained")
	require.True(t, sawLag, "amoskys_bus_lag showed the backlog while it drained")
	s.stop(t, det)
	s.checkExactlyOnce(t, "agent-one", "agent-two")
}
