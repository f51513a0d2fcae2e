// Package temporal_test holds the temporal layer's spike tests on real telemetry: a helper
// process (this test binary, re-executed) idles while the collectors, the normaliser, the window
// stage and the temporal layer learn its baseline, then does one real thing (burns CPU, balloons
// memory, leaks fds, opens loopback connections, spawns short-lived processes); the temporal
// layer must flag that feature of that process within two windows.
package temporal_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/plugins/collect/connections"
	"github.com/amoskys/amoskys/plugins/collect/host"
	"github.com/amoskys/amoskys/plugins/collect/process"
	"github.com/amoskys/amoskys/processors/normalise"
	"github.com/amoskys/amoskys/processors/temporal"
	"github.com/amoskys/amoskys/processors/window"
	"github.com/amoskys/amoskys/schemas"
)

const (
	helperEnv = "AMOSKYS_SPIKE_HELPER"
	win       = time.Second // window length
	warmup    = 5           // temporal warm-up, in windows
	quiet     = 9 * win     // baseline before the action (warm-up plus a few scored windows)
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		helper()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helper idles until it reads a command on stdin, acknowledges it, does it and holds the result
// until stdin closes.
func helper() {
	runtime.GOMAXPROCS(1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c)
		}
	}()
	var hold []any
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd := strings.TrimSpace(in.Text())
		fmt.Println("go", cmd)
		switch cmd {
		case "cpu":
			end := time.Now().Add(4 * time.Second)
			x := 0
			for time.Now().Before(end) {
				for i := 0; i < 1e6; i++ {
					x += i
				}
			}
			hold = append(hold, x)
		case "mem":
			b := make([]byte, 256<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			hold = append(hold, b)
		case "fd":
			for i := 0; i < 800; i++ {
				f, err := os.Open(os.DevNull)
				if err != nil {
					break
				}
				hold = append(hold, f)
			}
		case "conn":
			for i := 0; i < 100; i++ {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					break
				}
				hold = append(hold, c)
			}
		case "procs":
			for i := 0; i < 60; i++ {
				_ = exec.Command("/bin/true").Run()
			}
		}
	}
	runtime.KeepAlive(hold)
}

// pipeline is collect → normalise → window → temporal over the real collectors.
type pipeline struct {
	mu      sync.Mutex
	results []judged
	errs    []error
}

type judged struct {
	fv  *schemas.FeatureVector
	res schemas.LayerResult
}

func startPipeline(ctx context.Context, t *testing.T) *pipeline {
	t.Helper()
	hostID := "spike-test"
	pc, err := process.NewCollector(process.Config{Interval: win / 2, Host: hostID, FlushInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	cc, err := connections.NewCollector(connections.Config{Interval: win / 4, Host: hostID, Protocols: []string{"tcp"}})
	require.NoError(t, err)
	hc := host.NewCollector(host.Config{Interval: win / 2, Host: hostID})
	require.NoError(t, pc.Start(ctx))
	require.NoError(t, cc.Start(ctx))
	require.NoError(t, hc.Start(ctx))

	wcfg := window.DefaultConfig()
	wcfg.Windows = []window.Spec{{Size: win, Slide: win}}
	wcfg.AllowedLateness = win / 2
	wcfg.KeyKinds = []string{window.KindHost, window.KindProcess}
	w, err := window.New(wcfg)
	require.NoError(t, err)
	lcfg := temporal.DefaultLayerConfig()
	lcfg.Detector.Warmup = warmup
	layer := temporal.NewLayer(lcfg)
	norm := normalise.New(normalise.Config{Host: hostID})

	p := &pipeline{}
	merged := make(chan []*schemas.TelemetryEvent)
	var wg sync.WaitGroup
	for _, ch := range []<-chan []*schemas.TelemetryEvent{pc.Events(), cc.Events(), hc.Events()} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range ch {
				select {
				case merged <- b:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(merged) }()
	go func() {
		for batch := range merged {
			for _, ev := range batch {
				if err := norm.Event(ev); err != nil {
					p.mu.Lock()
					p.errs = append(p.errs, err)
					p.mu.Unlock()
					continue
				}
				for _, fv := range w.Add(ev) {
					r := layer.Judge(fv)
					p.mu.Lock()
					p.results = append(p.results, judged{fv, r})
					p.mu.Unlock()
				}
			}
		}
	}()
	return p
}

// forKey returns the results for the process key of pid.
func (p *pipeline) forKey(pid int) []judged {
	p.mu.Lock()
	defer p.mu.Unlock()
	prefix := "proc:" + strconv.Itoa(pid) + "@"
	var out []judged
	for _, j := range p.results {
		if strings.HasPrefix(j.fv.Key, prefix) {
			out = append(out, j)
		}
	}
	return out
}

func hasReason(r schemas.LayerResult, features []string) (schemas.Reason, bool) {
	for _, re := range r.Reasons {
		for _, f := range features {
			if re.ID == "temporal:"+f {
				return re, true
			}
		}
	}
	return schemas.Reason{}, false
}

func TestSpikesOnRealTelemetry(t *testing.T) {
	if testing.Short() {
		t.Skip("spike tests run real processes for ~13 s")
	}
	if os.Geteuid() != 0 && os.Getenv("AMOSKYS_REQUIRE_DEPS") != "1" {
		t.Skip("needs root for the process connector and other processes' fds")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skipf("needs Linux /proc: %v", err)
	}
	cases := []struct {
		name, cmd string
		features  []string
	}{
		{"cpu burn", "cpu", []string{"cpu_percent", "cpu_percent.max"}},
		{"memory balloon", "mem", []string{"rss_bytes", "rss_bytes.max"}},
		{"fd leak", "fd", []string{"fds"}},
		{"loopback connection burst", "conn", []string{"conn_count", "distinct_remote_count"}},
		{"short-lived process burst", "procs", []string{"child_exec_count"}},
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	p := startPipeline(ctx, t)

	// One helper process per case, all watched by the same pipeline, each its own key.
	type run struct {
		pid   int
		stdin io.WriteCloser
		ack   *bufio.Reader
		actAt time.Time
	}
	self, err := os.Executable()
	require.NoError(t, err)
	runs := make([]*run, len(cases))
	for i := range cases {
		cmd := exec.CommandContext(ctx, self, "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=1")
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		defer func() { stdin.Close(); _ = cmd.Wait() }()
		runs[i] = &run{pid: cmd.Process.Pid, stdin: stdin, ack: bufio.NewReader(stdout)}
	}
	time.Sleep(quiet)
	for i, tc := range cases {
		r := runs[i]
		r.actAt = time.Now()
		_, err := fmt.Fprintln(r.stdin, tc.cmd)
		require.NoError(t, err)
		ack, err := r.ack.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "go "+tc.cmd+"\n", ack)
	}
	// Wait until every helper's key has a closed window past the two-window deadline (the
	// pipeline may lag on a loaded machine; event time, not this wait, decides the verdict).
	waitUntil := time.Now().Add(30 * time.Second)
	for time.Now().Before(waitUntil) {
		done := true
		for _, r := range runs {
			past := false
			for _, j := range p.forKey(r.pid) {
				if j.fv.End.After(r.actAt.Add(2 * win)) {
					past = true
				}
			}
			done = done && past
		}
		if done {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.mu.Lock()
	require.Empty(t, p.errs, "normalise errors")
	p.mu.Unlock()

	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			actAt, pid := runs[i].actAt, runs[i].pid
			deadline := actAt.Add(2 * win)
			res := p.forKey(pid)
			require.NotEmpty(t, res, "no feature vectors for the helper pid %d", pid)
			var warm int
			var flagged *judged
			for i := range res {
				j := &res[i]
				if j.res.Score != nil {
					warm++
				}
				if j.fv.End.Before(actAt) {
					re, ok := hasReason(j.res, tc.features)
					require.False(t, ok, "flagged before the action at %v: %s", j.fv.End, re.Text)
					continue
				}
				if _, ok := hasReason(j.res, tc.features); ok && flagged == nil {
					flagged = j
				}
			}
			require.Greater(t, warm, 0, "the helper's series never warmed up (%d vectors)", len(res))
			require.NotNil(t, flagged, "not flagged; results after the action: %s", describe(res, actAt))
			re, _ := hasReason(flagged.res, tc.features)
			t.Logf("%s: flagged in the window ending %v, %v after the action: score %.3f: %s",
				tc.name, flagged.fv.End.Format("15:04:05.000"), flagged.fv.End.Sub(actAt).Round(time.Millisecond), *flagged.res.Score, re.Text)
			require.False(t, flagged.fv.End.After(deadline.Add(win)), "flagged in the window ending %v, more than two windows after the action at %v", flagged.fv.End, actAt)
			require.GreaterOrEqual(t, *flagged.res.Score, 0.5)
		})
	}
}

func describe(res []judged, after time.Time) string {
	var b strings.Builder
	for _, j := range res {
		if j.fv.End.Before(after) {
			continue
		}
		s := "abstain: " + j.res.Abstain
		if j.res.Score != nil {
			s = fmt.Sprintf("%.3f", *j.res.Score)
		}
		fmt.Fprintf(&b, "\n  %s %s %v", j.fv.End.Format("15:04:05.000"), s, j.fv.Values)
		for _, r := range j.res.Reasons {
			fmt.Fprintf(&b, "\n    %s", r.Text)
		}
	}
	return b.String()
}
