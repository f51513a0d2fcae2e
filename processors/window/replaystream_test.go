package window

import (
	"fmt"
	"time"

	"github.com/amoskys/amoskys/schemas"
)

// replayStream mirrors internal/replay.Synthetic (which window cannot import): per host and
// second one process exec (a new process, so a new process key, every second), two samples,
// two connections and five host metrics.
func replayStream(n, hosts int, start time.Time) []*schemas.TelemetryEvent {
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
		pid := int32(1000 + (i/10)%64)
		switch {
		case slot == 0:
			name := names[(i/10)%len(names)]
			ev.Kind = schemas.KindProcessExec
			ev.Process = &schemas.Process{PID: pid, PPID: 1, StartTime: ts, Name: name, Exe: "/usr/bin/" + name,
				UID: uint32(1000 * ((i / 10) % 2)), EUID: 0,
				Ancestry: []schemas.Ancestor{{PID: 1, Name: "systemd", Exe: "/usr/lib/systemd/systemd"}}}
		case slot <= 2:
			ev.Kind = schemas.KindProcessSample
			ev.Process = &schemas.Process{PID: pid, PPID: 1, StartTime: start, Name: names[slot], CPUPercent: float64(i % 97),
				RSSBytes: uint64(1<<20 + (i%113)*4096), Threads: 4, FDs: int32(10 + i%7)}
		case slot <= 4:
			ev.Kind = schemas.KindConnection
			ev.Conn = &schemas.Connection{Action: "opened", Proto: "tcp", LocalAddr: "10.0.0.1", LocalPort: uint16(40000 + i%2000),
				RemoteAddr: fmt.Sprintf("192.0.2.%d", i%250), RemotePort: 443, PID: pid}
		default:
			ev.Kind = schemas.KindHostMetric
			ev.Metric = &schemas.Metric{Name: metrics[slot-5], Value: float64((i*7919)%1000) / 10}
		}
		out = append(out, ev)
	}
	return out
}
