// Package collectbench measures the collectors: CPU share of one core and RSS of the collect
// pipeline (the real Benthos inputs and the normalise processor, outputs dropped) against an idle
// baseline of the same process, CPU time per process per snapshot, and the latency of a full
// ifTable + hrSWRunTable walk of a local snmpd over v2c and v3 (with net-snmp's snmpbulkwalk
// beside it). `amoskys bench collect` runs it.
package collectbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/snmptest"
	"github.com/amoskys/amoskys/plugins/collect/connections"
	"github.com/amoskys/amoskys/plugins/collect/footprint"
	"github.com/amoskys/amoskys/plugins/collect/host"
	"github.com/amoskys/amoskys/plugins/collect/process"
	"github.com/amoskys/amoskys/plugins/collect/snmp"
	_ "github.com/amoskys/amoskys/processors/normalise"
)

// Options configure a run.
type Options struct {
	Duration   time.Duration // collectors phase; default 60s
	Baseline   time.Duration // idle phase before it; default 20s
	Interval   time.Duration // collector interval; default 5s
	SampleTopN int           // process_sample top N; default 20
	Snapshots  int           // snapshots timed for the per-process cost; default 20
	Walks      int           // SNMP walks per version; default 20; 0 with NoSNMP skips
	NoSNMP     bool
	CPUProfile string // write a pprof CPU profile of the collectors phase here (empty: none)
	// SnapshotsOnly runs the collectors again this long with the connector off: the fixed cost of
	// polling at Interval, apart from the per-exec cost. 0: skipped.
	SnapshotsOnly time.Duration
	// NoTrim keeps the binary's text mapped as the kernel mapped it (see package footprint); by
	// default the run trims it the way `amoskys agent` does (memory.trim_text).
	NoTrim bool
}

func (o *Options) defaults() {
	if o.Duration <= 0 {
		o.Duration = 60 * time.Second
	}
	if o.Baseline <= 0 {
		o.Baseline = 20 * time.Second
	}
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.SampleTopN <= 0 {
		o.SampleTopN = 20
	}
	if o.Snapshots <= 0 {
		o.Snapshots = 20
	}
	if o.Walks <= 0 {
		o.Walks = 20
	}
}

// Usage is CPU and memory over one phase.
type Usage struct {
	Wall       time.Duration
	CPU        time.Duration // user + system
	CorePct    float64       // CPU / wall * 100: percent of one core
	RSSMB      float64       // resident set at the end
	AnonMB     float64       // of which anonymous (Go heap, stacks, runtime)
	FileMB     float64       // of which file-backed (the binary's text and rodata, libc)
	PeakRSSMB  float64       // VmHWM
	HeapMB     float64       // Go heap in use (runtime.MemStats.HeapInuse) at the end
	Events     int64
	EventsPerS float64
}

// Walk is the latency of one kind of walk.
type Walk struct {
	Name               string
	Rows               int
	Mean, P50, P95, Mx time.Duration
	Err                string
}

// Report is everything a run measured.
type Report struct {
	Opts            Options
	Start           Usage // the idle process as started, before any trim (memory only)
	Trimmed         bool
	Baseline, Run   Usage
	SnapshotsOnly   Usage
	Connector       bool
	Processes       int
	SnapshotCPU     time.Duration // CPU per snapshot
	PerProcessCPU   time.Duration // CPU per process per snapshot
	SnapshotWall    time.Duration
	ConnScanCPU     time.Duration // CPU per connections read (sock_diag dumps + diff + fd map when needed)
	HostSampleCPU   time.Duration // CPU per host_metrics sample
	PollCPU         time.Duration // snapshot + connections read + host sample: the cost per interval whatever the event rate
	PerEventCPU     time.Duration // (collectors-phase CPU - polling) / events: the cost that grows with activity
	Walks           []Walk
	GoVersion, Host string
}

// mem fills the memory fields of u from smaps_rollup and the Go runtime.
func (u *Usage) mem() {
	m, err := footprint.Read()
	if err != nil {
		return
	}
	u.RSSMB, u.AnonMB, u.FileMB, u.PeakRSSMB = footprint.MB(m.RSS), footprint.MB(m.Anon), footprint.MB(m.File), footprint.MB(m.HWM)
	u.HeapMB = footprint.MB(footprint.ReadGo().HeapInuse)
}

func measure(ctx context.Context, d time.Duration, events *atomic.Int64) Usage {
	c0, t0, e0 := cpuTime(), time.Now(), events.Load()
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	u := Usage{Wall: time.Since(t0), CPU: cpuTime() - c0, Events: events.Load() - e0}
	u.CorePct = float64(u.CPU) / float64(u.Wall) * 100
	u.EventsPerS = float64(u.Events) / u.Wall.Seconds()
	u.mem()
	return u
}

const inputYAML = `
broker:
  inputs:
    - process:
        interval: %s
        sample_top_n: %d
        use_connector: %s
    - connections:
        interval: %s
    - host_metrics:
        interval: %s
`

// runStream runs the collect inputs and normalise (outputs dropped) for d and measures it.
func runStream(ctx context.Context, o Options, connector string, d time.Duration, profile string, events *atomic.Int64) (Usage, error) {
	b := service.NewStreamBuilder()
	if err := b.SetLoggerYAML("level: warn"); err != nil {
		return Usage{}, err
	}
	iv := o.Interval.String()
	if err := b.AddInputYAML(fmt.Sprintf(inputYAML, iv, o.SampleTopN, connector, iv, iv)); err != nil {
		return Usage{}, err
	}
	if err := b.AddProcessorYAML("normalise: {}"); err != nil {
		return Usage{}, err
	}
	if err := b.AddBatchConsumerFunc(func(_ context.Context, batch service.MessageBatch) error {
		events.Add(int64(len(batch)))
		return nil
	}); err != nil {
		return Usage{}, err
	}
	stream, err := b.Build()
	if err != nil {
		return Usage{}, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- stream.Run(sctx) }()
	if !o.NoTrim {
		footprint.TrimNowAndAfter(sctx, footprint.Settle, nil)
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return Usage{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return Usage{}, err
		}
	}
	u := measure(ctx, d, events)
	if profile != "" {
		pprof.StopCPUProfile()
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		return Usage{}, fmt.Errorf("collect stream: %w", err)
	}
	return u, nil
}

// Run measures; w gets progress lines.
func Run(ctx context.Context, o Options, w io.Writer) (*Report, error) {
	if runtime.GOOS != "linux" {
		return nil, errors.New("bench collect: the collectors it measures need Linux")
	}
	o.defaults()
	rep := &Report{Opts: o, GoVersion: runtime.Version()}
	rep.Host, _ = os.Hostname()
	var events atomic.Int64
	var err error

	runtime.GC()
	rep.Start.mem()
	if !o.NoTrim {
		if _, err := footprint.TrimText(); err != nil {
			return nil, err
		}
		rep.Trimmed = true
	}
	fmt.Fprintf(w, "baseline: idle process for %s (text trimmed: %v)\n", o.Baseline, rep.Trimmed)
	rep.Baseline = measure(ctx, o.Baseline, &events)

	fmt.Fprintf(w, "collectors: process (connector), connections, host_metrics at %s + normalise for %s\n", o.Interval, o.Duration)
	if rep.Run, err = runStream(ctx, o, "auto", o.Duration, o.CPUProfile, &events); err != nil {
		return nil, err
	}
	if o.SnapshotsOnly > 0 {
		fmt.Fprintf(w, "collectors with use_connector: false (snapshots only) for %s\n", o.SnapshotsOnly)
		if rep.SnapshotsOnly, err = runStream(ctx, o, "false", o.SnapshotsOnly, "", &events); err != nil {
			return nil, err
		}
	}

	// CPU per process per snapshot, snapshots alone (no connector), one after another.
	pc, err := process.NewCollector(process.Config{Interval: time.Hour, UseConnector: process.ConnectorOff, SampleTopN: o.SampleTopN})
	if err != nil {
		return nil, err
	}
	c0, t0 := cpuTime(), time.Now()
	n := 0
	for i := 0; i < o.Snapshots; i++ {
		n += pc.SnapshotOnce(ctx)
	}
	if n > 0 {
		rep.SnapshotCPU = (cpuTime() - c0) / time.Duration(o.Snapshots)
		rep.SnapshotWall = time.Since(t0) / time.Duration(o.Snapshots)
		rep.PerProcessCPU = (cpuTime() - c0) / time.Duration(n)
		rep.Processes = n / o.Snapshots
	}
	// The other two polls, timed alone the same way.
	if cc, err := connections.NewCollector(connections.Config{Interval: time.Hour}); err == nil {
		cc.Scan() // the first read maps every socket's owner
		c0 := cpuTime()
		for i := 0; i < o.Snapshots; i++ {
			cc.Scan()
		}
		rep.ConnScanCPU = (cpuTime() - c0) / time.Duration(o.Snapshots)
		_ = cc.Close()
	}
	hc := host.NewCollector(host.Config{Interval: time.Hour})
	hc.Sample(ctx)
	c0 = cpuTime()
	for i := 0; i < o.Snapshots; i++ {
		hc.Sample(ctx)
	}
	rep.HostSampleCPU = (cpuTime() - c0) / time.Duration(o.Snapshots)
	rep.PollCPU = rep.SnapshotCPU + rep.ConnScanCPU + rep.HostSampleCPU
	if polls := int64(rep.Run.Wall / o.Interval); rep.Run.Events > 0 {
		if rest := rep.Run.CPU - time.Duration(polls)*rep.PollCPU; rest > 0 {
			rep.PerEventCPU = rest / time.Duration(rep.Run.Events)
		}
	}
	if on, _ := func() (bool, error) {
		c, err := process.NewCollector(process.Config{Interval: time.Hour})
		if err != nil {
			return false, err
		}
		cctx, cc := context.WithCancel(ctx)
		defer cc()
		if err := c.Start(cctx); err != nil {
			return false, err
		}
		return c.UsingConnector()
	}(); on {
		rep.Connector = true
	}

	if !o.NoSNMP {
		fmt.Fprintf(w, "snmp: %d full ifTable + hrSWRunTable walks per version against a local snmpd\n", o.Walks)
		walks, err := snmpWalks(ctx, o.Walks)
		if err != nil {
			rep.Walks = append(rep.Walks, Walk{Name: "snmp", Err: err.Error()})
		} else {
			rep.Walks = walks
		}
	}
	return rep, nil
}

func stats(name string, rows int, d []time.Duration) Walk {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return Walk{Name: name, Rows: rows, Mean: sum / time.Duration(len(d)), P50: d[len(d)/2],
		P95: d[min(len(d)-1, len(d)*95/100)], Mx: d[len(d)-1]}
}

func snmpWalks(ctx context.Context, n int) ([]Walk, error) {
	dir, err := os.MkdirTemp("", "amoskys-bench-snmpd-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	a, err := snmptest.StartDir(dir)
	if err != nil {
		return nil, err
	}
	defer a.Stop()
	_ = os.Setenv("AMOSKYS_BENCH_SNMP_COMMUNITY", a.Community)
	_ = os.Setenv("AMOSKYS_BENCH_SNMP_AUTH", a.AuthPass)
	_ = os.Setenv("AMOSKYS_BENCH_SNMP_PRIV", a.PrivPass)
	targets := []struct {
		name string
		t    snmp.Target
	}{
		{"gosnmp v2c", snmp.Target{Address: a.Addr(), Version: "2c", CommunityEnv: "AMOSKYS_BENCH_SNMP_COMMUNITY", Timeout: 5 * time.Second}},
		{"gosnmp v3 authPriv SHA/AES", snmp.Target{Address: a.Addr(), Version: "3", User: a.User, AuthPassEnv: "AMOSKYS_BENCH_SNMP_AUTH", PrivPassEnv: "AMOSKYS_BENCH_SNMP_PRIV", Timeout: 5 * time.Second}},
	}
	var out []Walk
	for _, tg := range targets {
		x, err := tg.t.Dial(ctx, 25)
		if err != nil {
			return nil, err
		}
		var ds []time.Duration
		rows := 0
		for i := 0; i < n; i++ {
			t0 := time.Now()
			r1, err := x.BulkWalkAll(".1.3.6.1.2.1.2.2")
			if err != nil {
				return nil, fmt.Errorf("%s ifTable walk: %w", tg.name, err)
			}
			r2, err := x.BulkWalkAll(".1.3.6.1.2.1.25.4.2")
			if err != nil {
				return nil, fmt.Errorf("%s hrSWRunTable walk: %w", tg.name, err)
			}
			ds = append(ds, time.Since(t0))
			rows = len(r1) + len(r2)
		}
		_ = x.Conn.Close()
		out = append(out, stats(tg.name, rows, ds))
	}
	// net-snmp's own client beside it, when installed (process start included).
	if bw, err := exec.LookPath("snmpbulkwalk"); err == nil {
		// Credentials go in a client snmp.conf (SNMPCONFPATH), never on a command line.
		confs := map[string]string{
			"v2c": "defVersion 2c\ndefCommunity " + a.Community + "\n",
			"v3": fmt.Sprintf("defVersion 3\ndefSecurityName %s\ndefSecurityLevel authPriv\ndefAuthType SHA\n"+
				"defAuthPassphrase %s\ndefPrivType AES\ndefPrivPassphrase %s\n", a.User, a.AuthPass, a.PrivPass),
		}
		for _, v := range []struct {
			name, conf string
		}{
			{"snmpbulkwalk v2c (net-snmp CLI, 2 processes)", "v2c"},
			{"snmpbulkwalk v3 (net-snmp CLI, 2 processes)", "v3"},
		} {
			confDir := filepath.Join(dir, "client-"+v.conf)
			if err := os.MkdirAll(confDir, 0o700); err != nil {
				return out, err
			}
			if err := os.WriteFile(filepath.Join(confDir, "snmp.conf"), []byte(confs[v.conf]), 0o600); err != nil {
				return out, err
			}
			var ds []time.Duration
			rows := 0
			for i := 0; i < n; i++ {
				t0 := time.Now()
				total := 0
				for _, root := range []string{".1.3.6.1.2.1.2.2", ".1.3.6.1.2.1.25.4.2"} {
					cmd := exec.CommandContext(ctx, bw, "-Cr25", "-On", "-M", filepath.Join(dir, "mibs"), "-m", "", a.Addr(), root)
					cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+filepath.Join(dir, "client"), "SNMPCONFPATH="+confDir)
					b, err := cmd.Output()
					if err != nil {
						return out, fmt.Errorf("%s: %w", v.name, err)
					}
					total += strings.Count(string(b), "\n")
				}
				ds = append(ds, time.Since(t0))
				rows = total
			}
			out = append(out, stats(v.name, rows, ds))
		}
	}
	return out, nil
}

// Print writes the report as Markdown.
func Print(w io.Writer, r *Report) {
	fmt.Fprintf(w, "host %s, %s, %d CPUs, process connector in use: %v\n\n", r.Host, r.GoVersion, runtime.NumCPU(), r.Connector)
	fmt.Fprintf(w, "| phase | wall | CPU | %% of one core | RSS MB | anon MB | file MB | peak RSS MB | Go heap MB | events/s |\n|---|---|---|---|---|---|---|---|---|---|\n")
	row := func(name string, u Usage, cpu bool) {
		c, pct, ev, wall := "", "", "", ""
		if cpu {
			wall, c = u.Wall.Round(time.Millisecond).String(), u.CPU.Round(time.Millisecond).String()
			pct, ev = fmt.Sprintf("%.3f", u.CorePct), fmt.Sprintf("%.1f", u.EventsPerS)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %s |\n", name, wall, c, pct,
			u.RSSMB, u.AnonMB, u.FileMB, u.PeakRSSMB, u.HeapMB, ev)
	}
	if r.Trimmed {
		row("idle binary as started (text as the kernel mapped it)", r.Start, false)
	}
	base := "baseline: idle binary, same process"
	if r.Trimmed {
		base += ", text trimmed"
	}
	row(base, r.Baseline, true)
	row(fmt.Sprintf("collectors at %s + normalise", r.Opts.Interval), r.Run, true)
	if r.SnapshotsOnly.Wall != 0 {
		row("same, use_connector: false (snapshots only)", r.SnapshotsOnly, true)
	}
	fmt.Fprintf(w, "| collectors minus baseline | | | %.3f | %.1f | %.1f | %.1f | | | |\n\n", r.Run.CorePct-r.Baseline.CorePct,
		r.Run.RSSMB-r.Baseline.RSSMB, r.Run.AnonMB-r.Baseline.AnonMB, r.Run.FileMB-r.Baseline.FileMB)
	if r.Run.Events > 0 {
		fmt.Fprintf(w, "CPU per event with the connector (all costs included): %s\n\n", (r.Run.CPU / time.Duration(r.Run.Events)).Round(time.Microsecond))
	}
	fmt.Fprintf(w, "snapshot (pid list by getdents + one /proc/PID/stat read per process, top-%d samples with fd count and io): %d processes, %s CPU and %s wall per snapshot, %s CPU per process\n\n",
		r.Opts.SampleTopN, r.Processes, r.SnapshotCPU.Round(time.Microsecond), r.SnapshotWall.Round(time.Microsecond), r.PerProcessCPU.Round(100*time.Nanosecond))
	if r.PollCPU > 0 {
		fmt.Fprintf(w, "polling per %s interval, timed alone: process snapshot %s + connections read %s + host sample %s = %s CPU, %.3f%% of one core (what a quiet machine pays)\n",
			r.Opts.Interval, r.SnapshotCPU.Round(time.Microsecond), r.ConnScanCPU.Round(time.Microsecond), r.HostSampleCPU.Round(time.Microsecond),
			r.PollCPU.Round(time.Microsecond), float64(r.PollCPU)/float64(r.Opts.Interval)*100)
		if r.PerEventCPU > 0 {
			fmt.Fprintf(w, "the rest, per event (exec-time /proc reads, Benthos, normalise): %s CPU; at the %.1f events/s of this run that is %.3f%% of one core\n",
				r.PerEventCPU.Round(time.Microsecond), r.Run.EventsPerS, r.Run.CorePct-float64(r.PollCPU)/float64(r.Opts.Interval)*100)
		}
		fmt.Fprintln(w)
	}
	if len(r.Walks) > 0 {
		fmt.Fprintf(w, "| walk: ifTable + hrSWRunTable | varbinds | mean | p50 | p95 | max |\n|---|---|---|---|---|---|\n")
		for _, x := range r.Walks {
			if x.Err != "" {
				fmt.Fprintf(w, "| %s | error: %s | | | | |\n", x.Name, x.Err)
				continue
			}
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s |\n", x.Name, x.Rows, x.Mean.Round(10*time.Microsecond),
				x.P50.Round(10*time.Microsecond), x.P95.Round(10*time.Microsecond), x.Mx.Round(10*time.Microsecond))
		}
	}
}
