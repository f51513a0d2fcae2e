package replay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/amoskys/amoskys/schemas"
)

// Synthetic returns n telemetry events over hosts, in event-time order from start: per host and
// second one process exec, two samples, two connections and five host metrics, with names and
// values that vary enough to open windows, move baselines and now and then match a rule.
func Synthetic(n, hosts int, start time.Time) []*schemas.TelemetryEvent {
	if hosts < 1 {
		hosts = 1
	}
	out := make([]*schemas.TelemetryEvent, 0, n)
	names := []string{"bash", "python3", "curl", "sshd", "nc", "cron", "systemd", "sh"}
	metrics := []string{"cpu.user", "cpu.system", "mem.used_bytes", "net.rx_bytes_per_s", "load.1"}
	for i := 0; len(out) < n; i++ {
		sec := i / (10 * hosts)
		h := (i / 10) % hosts
		slot := i % 10
		host := fmt.Sprintf("bench-%02d", h)
		ts := start.Add(time.Duration(sec)*time.Second + time.Duration(slot)*time.Millisecond)
		ev := &schemas.TelemetryEvent{SchemaVersion: 1, ID: fmt.Sprintf("%s-%09d", host, i), Time: ts, Host: host}
		pid := int32(1000 + (i/10)%64) // a host runs tens of processes, not thousands
		switch {
		case slot == 0:
			name := names[(i/10)%len(names)]
			ev.Kind, ev.Source = schemas.KindProcessExec, "process"
			ev.Process = &schemas.Process{PID: pid, PPID: 1, StartTime: ts, Name: name, Exe: "/usr/bin/" + name,
				Cmdline: name + " -c true", UID: uint32(1000 * ((i / 10) % 2)), EUID: 0, User: "u",
				Ancestry: []schemas.Ancestor{{PID: 1, Name: "systemd", Exe: "/usr/lib/systemd/systemd"}}}
		case slot <= 2:
			ev.Kind, ev.Source = schemas.KindProcessSample, "process"
			ev.Process = &schemas.Process{PID: pid, PPID: 1, StartTime: start, Name: names[slot], CPUPercent: float64(i % 97),
				RSSBytes: uint64(1<<20 + (i%113)*4096), Threads: 4, FDs: int32(10 + i%7)}
		case slot <= 4:
			ev.Kind, ev.Source = schemas.KindConnection, "connections"
			ev.Conn = &schemas.Connection{Action: "opened", Proto: "tcp", LocalAddr: "10.0.0.1", LocalPort: uint16(40000 + i%2000),
				RemoteAddr: fmt.Sprintf("192.0.2.%d", i%250), RemotePort: 443, State: "ESTABLISHED", PID: pid, Process: "curl"}
		default:
			ev.Kind, ev.Source = schemas.KindHostMetric, "host"
			m := metrics[slot-5]
			ev.Metric = &schemas.Metric{Name: m, Value: float64((i*7919)%1000) / 10, Unit: "percent"}
		}
		out = append(out, ev)
	}
	return out
}

// NoopPipeline writes a pipeline of n Benthos noop processors (the framework's own per-stage
// cost) into dir and returns its path.
func NoopPipeline(dir string, n int) (string, error) {
	s := "pipeline:\n  processors:\n"
	for i := 0; i < n; i++ {
		s += "    - noop: {}\n"
	}
	p := filepath.Join(dir, fmt.Sprintf("noop-%d.yaml", n))
	return p, os.WriteFile(p, []byte(s), 0o600)
}

// BenchResult is one measured replay.
type BenchResult struct {
	Pipeline string
	Events   int64
	Alerts   int
	Elapsed  time.Duration
}

// EventsPerSecond is the measured throughput.
func (b BenchResult) EventsPerSecond() float64 { return float64(b.Events) / b.Elapsed.Seconds() }

// Bench replays evs through pipeline in memory (no warehouse) and times it.
func Bench(ctx context.Context, pipeline string, evs []*schemas.TelemetryEvent, batch int) (BenchResult, error) {
	res, err := Run(ctx, Options{Pipeline: pipeline, Source: &sliceSource{evs: evs}, BatchSize: batch, RunID: "bench"})
	if err != nil {
		return BenchResult{}, err
	}
	return BenchResult{Pipeline: pipeline, Events: res.Events, Alerts: len(res.Alerts), Elapsed: res.Elapsed}, nil
}
