package geometric

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/schemas"
)

// benchEvents is a deterministic mix shaped like a busy build host: 80% process_exec of
// ordinary commands with 2-5 ancestors, 15% outbound connections, 5% listeners.
func benchEvents(n int) []*schemas.TelemetryEvent {
	r := rand.New(rand.NewPCG(1, 2))
	exes := []string{"/usr/bin/ls", "/usr/bin/git", "/usr/local/go/bin/go", "/usr/bin/x86_64-linux-gnu-gcc-12",
		"/usr/bin/bash", "/usr/bin/dash", "/usr/bin/python3.11", "/usr/bin/curl", "/usr/bin/grep", "/usr/bin/sed",
		"/usr/bin/make", "/usr/bin/cat", "/usr/bin/find", "/usr/bin/tar", "/usr/lib/apt/methods/http", "/usr/bin/ssh",
		"/usr/bin/systemctl", "/usr/sbin/cron", "/usr/bin/awk", "/usr/bin/sort"}
	args := []string{"-la /home/alice/src", "status --short", "build ./...", "-c -O2 main.c -o main.o",
		"-c 'for f in *.go; do gofmt -l $f; done'", "/usr/share/unattended-upgrades/x.py --dry-run",
		"-fsSL https://example.org/install.sh", "-rn TODO src/", "-i s/foo/bar/ Makefile", "test", "/etc/os-release",
		". -name '*.tmp' -delete", "-xzf release.tar.gz", "", "git@github.com:org/repo.git", "restart nginx"}
	parents := []string{"/usr/bin/bash", "/usr/bin/make", "/usr/local/go/bin/go", "/usr/sbin/sshd", "/usr/lib/systemd/systemd", "/usr/sbin/cron"}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]*schemas.TelemetryEvent, n)
	for i := range out {
		ev := &schemas.TelemetryEvent{SchemaVersion: 1, ID: fmt.Sprintf("e%d", i), Host: "h1", Time: t0.Add(time.Duration(i) * time.Millisecond)}
		switch x := r.IntN(100); {
		case x < 80:
			exe := exes[r.IntN(len(exes))]
			p := &schemas.Process{PID: int32(1000 + i), PPID: 900, StartTime: ev.Time, Name: filepath.Base(exe), Exe: exe,
				Cmdline: filepath.Base(exe) + " " + args[r.IntN(len(args))], Cwd: "/home/alice/src", UID: 1000, EUID: 1000, User: "alice"}
			for d := 0; d < 2+r.IntN(4); d++ {
				pe := parents[r.IntN(len(parents))]
				p.Ancestry = append(p.Ancestry, schemas.Ancestor{PID: int32(900 - d), Name: filepath.Base(pe), Exe: pe, Cmdline: pe, UID: 1000, EUID: 1000})
			}
			ev.Kind, ev.Process = schemas.KindProcessExec, p
		case x < 95:
			ev.Kind = schemas.KindConnection
			ev.Conn = &schemas.Connection{Action: "opened", Proto: "tcp", LocalAddr: "10.0.0.5", LocalPort: uint16(40000 + r.IntN(20000)),
				RemoteAddr: fmt.Sprintf("93.184.%d.%d", r.IntN(255), r.IntN(255)), RemotePort: 443, State: "ESTABLISHED", PID: int32(i), Process: "curl", Exe: "/usr/bin/curl", UID: 1000}
		default:
			ev.Kind = schemas.KindListener
			ev.Conn = &schemas.Connection{Action: "opened", Proto: "tcp", LocalAddr: "127.0.0.1", LocalPort: uint16(8000 + r.IntN(1000)), State: "LISTEN", PID: int32(i), Process: "devserver", Exe: "/home/alice/bin/devserver", UID: 1000}
		}
		out[i] = ev
	}
	return out
}

// cpuTime is this process's user+system CPU time: on a shared machine, events per CPU-second
// is the per-core rate, where events per wall-second also counts other processes' load.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchEngine(b *testing.B, withRules bool) *Engine {
	b.Helper()
	if !withRules {
		dir := b.TempDir() // a rules directory with no rules: the no-rule baseline
		e, err := New(Config{RuleDirs: []string{dir}})
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	d := sharedData(b)
	e, err := New(Config{RuleDirs: []string{filepath.Join(repoRoot(), "rules")}, SigmaDirs: []string{
		filepath.Join(d, "sigma", "rules", "linux"), filepath.Join(d, "sigma", "rules-emerging-threats"), filepath.Join(d, "sigma", "rules-threat-hunting")}})
	if err != nil {
		b.Fatal(err)
	}
	if len(e.Report().Errors) > 0 {
		b.Fatalf("rules did not load: %v", e.Report().Errors[0])
	}
	return e
}

// BenchmarkEngine measures events/s through Engine.Judge on one goroutine (one core).
func BenchmarkEngine(b *testing.B) {
	evs := benchEvents(4096)
	for _, withRules := range []bool{false, true} {
		name := "rules=none"
		if withRules {
			name = "rules=all"
		}
		b.Run(name, func(b *testing.B) {
			e := benchEngine(b, withRules)
			b.ReportMetric(float64(e.Ruleset().ActiveCount()), "active_rules")
			matched := 0
			b.ResetTimer()
			c0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, _, ok := e.Judge(evs[i%len(evs)]); ok {
					matched++
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(b.N)/(cpuTime()-c0).Seconds(), "events/cpu_s")
			b.ReportMetric(float64(matched)/float64(b.N), "match_ratio")
		})
	}
}

// BenchmarkProcessor measures events/s through the Benthos processor (batches of 256 structured
// messages, as the detect pipeline delivers them after the window stage).
func BenchmarkProcessor(b *testing.B) {
	evs := benchEvents(4096)
	for _, withRules := range []bool{false, true} {
		name := "rules=none"
		if withRules {
			name = "rules=all"
		}
		b.Run(name, func(b *testing.B) {
			p := &processor{e: benchEngine(b, withRules)}
			res := service.MockResources()
			m := res.Metrics()
			p.judged, p.matched, p.suppressed, p.failed = m.NewCounter("a"), m.NewCounter("b"), m.NewCounter("c"), m.NewCounter("d")
			const bs = 256
			batches := make([]service.MessageBatch, len(evs)/bs)
			for i := range batches {
				for _, ev := range evs[i*bs : (i+1)*bs] {
					batches[i] = append(batches[i], envelope.NewEvent(ev))
				}
			}
			b.ResetTimer()
			c0 := cpuTime()
			n := 0
			for i := 0; n < b.N; i++ {
				batch := batches[i%len(batches)]
				for _, m := range batch {
					m.MetaSetMut(envelope.MetaLayers, nil) // fresh message state each round
				}
				if _, err := p.ProcessBatch(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
				n += len(batch)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(n)/(cpuTime()-c0).Seconds(), "events/cpu_s")
		})
	}
}
