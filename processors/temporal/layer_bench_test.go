package temporal

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/amoskys/amoskys/internal/nab"
	"github.com/amoskys/amoskys/processors/window"
	"github.com/amoskys/amoskys/schemas"
)

// benchVectors is what the default window stage emits on a quiet host: per one-minute window, one
// host vector and 40 process vectors; a process lives 20 windows, so keys come and go (new keys
// warm up, old ones are evicted by the cap).
func benchVectors(windows int) []*schemas.FeatureVector {
	rng := rand.New(rand.NewPCG(5, 6))
	hn, pn := window.FeatureNames(window.KindHost), window.FeatureNames(window.KindProcess)
	var out []*schemas.FeatureVector
	for w := 0; w < windows; w++ {
		end := t0.Add(time.Duration(w+1) * time.Minute)
		hv := make([]float64, len(hn))
		for i := range hv {
			hv[i] = 10 + 3*rng.NormFloat64()
		}
		out = append(out, &schemas.FeatureVector{Host: "h", KeyKind: window.KindHost, Key: "host", Window: "1m",
			Start: end.Add(-time.Minute), End: end, Names: hn, Values: hv})
		for p := 0; p < 40; p++ {
			pid := p + 40*((w+p)/20)
			pv := make([]float64, len(pn))
			for i := range pv {
				pv[i] = float64(p%7) * (1 + 0.1*rng.NormFloat64())
			}
			out = append(out, &schemas.FeatureVector{Host: "h", KeyKind: window.KindProcess,
				Key: "proc:" + strconv.Itoa(pid) + "@1700000000", Entity: "p" + strconv.Itoa(p%9), Window: "1m",
				Start: end.Add(-time.Minute), End: end, Names: pn, Values: pv})
		}
	}
	return out
}

// BenchmarkLayerJudge measures feature vectors per second through Layer.Judge (the processor's
// per-message work without the Benthos envelope).
func BenchmarkLayerJudge(b *testing.B) {
	vs := benchVectors(400)
	l := NewLayer(DefaultLayerConfig())
	for _, v := range vs[:len(vs)/2] { // warm: populations and most series exist
		l.Judge(v)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := nab.CPUTime()
	for i := 0; i < b.N; i++ {
		l.Judge(vs[i%len(vs)])
	}
	used := nab.CPUTime() - cpu
	if used > 0 {
		b.ReportMetric(float64(b.N)/used.Seconds(), "vectors/cpu-s")
	}
}

// churnVectors is the replay bench's shape (internal/replay.Synthetic): keys churn, most process
// keys live one or two windows, so most of a vector's series are new (or recycled at the cap).
func churnVectors(windows int) []*schemas.FeatureVector {
	rng := rand.New(rand.NewPCG(7, 8))
	hn, pn := window.FeatureNames(window.KindHost), window.FeatureNames(window.KindProcess)
	var out []*schemas.FeatureVector
	for w := 0; w < windows; w++ {
		end := t0.Add(time.Duration(w+1) * time.Minute)
		for h := 0; h < 8; h++ {
			host := "h" + strconv.Itoa(h)
			hv := make([]float64, len(hn))
			for i := range hv {
				hv[i] = 10 + 3*rng.NormFloat64()
			}
			out = append(out, &schemas.FeatureVector{Host: host, KeyKind: window.KindHost, Key: "host", Window: "1m",
				Start: end.Add(-time.Minute), End: end, Names: hn, Values: hv})
			for p := 0; p < 60; p++ {
				pid := p + 60*((w+p%2)/2) // each process lives two windows
				pv := make([]float64, len(pn))
				for i := range pv {
					pv[i] = float64(p%7) * (1 + 0.1*rng.NormFloat64())
				}
				out = append(out, &schemas.FeatureVector{Host: host, KeyKind: window.KindProcess,
					Key: "proc:" + strconv.Itoa(pid) + "@1700000000", Entity: "p" + strconv.Itoa(p%9), Window: "1m",
					Start: end.Add(-time.Minute), End: end, Names: pn, Values: pv})
			}
		}
	}
	return out
}

// BenchmarkLayerJudgeChurn: vectors per second when keys churn (every process a new key, the
// series cap reached, so new series recycle evicted detectors), as in the replay bench.
func BenchmarkLayerJudgeChurn(b *testing.B) {
	benchJudgeNewKeys(b, churnVectors(200), func(*schemas.FeatureVector) bool { return true })
}

// benchJudgeNewKeys judges the first half of vs (filling the series cap), then the second half
// over and over, reporting vectors per CPU-second. Before each new pass (untimed) the second
// half moves a day later and the keys rename says are renamed, so they come as new keys.
func benchJudgeNewKeys(b *testing.B, vs []*schemas.FeatureVector, rename func(*schemas.FeatureVector) bool) {
	l := NewLayer(DefaultLayerConfig())
	half := len(vs) / 2
	for _, v := range vs[:half] {
		l.Judge(v)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := nab.CPUTime()
	var paused time.Duration
	for i := 0; i < b.N; i++ {
		if i > 0 && i%(len(vs)-half) == 0 {
			b.StopTimer()
			p := nab.CPUTime()
			for _, v := range vs[half:] {
				v.Start, v.End = v.Start.Add(24*time.Hour), v.End.Add(24*time.Hour)
				if rename(v) {
					v.Key += "'"
				}
			}
			paused += nab.CPUTime() - p
			b.StartTimer()
		}
		l.Judge(vs[half+i%(len(vs)-half)])
	}
	used := nab.CPUTime() - cpu - paused
	if used > 0 {
		b.ReportMetric(float64(b.N)/used.Seconds(), "vectors/cpu-s")
	}
}

// replayVectors are the feature vectors the default window stage makes of the replay bench's
// stream (internal/replay.Synthetic: 8 hosts, per host and second one exec, so a new process key,
// two process samples, two connections and five host metrics): about 86% of them are a process
// key's first and only vector.
func replayVectors(events int) []*schemas.FeatureVector {
	w, err := window.New(window.DefaultConfig())
	if err != nil {
		panic(err)
	}
	names := []string{"bash", "python3", "curl", "sshd", "nc", "cron", "systemd", "sh"}
	metrics := []string{"cpu.user", "cpu.system", "mem.used_bytes", "net.rx_bytes_per_s", "load.1"}
	var out []*schemas.FeatureVector
	const hosts = 8
	for i := 0; i < events; i++ {
		sec, h, slot := i/(10*hosts), (i/10)%hosts, i%10
		host := "bench-0" + strconv.Itoa(h)
		ts := t0.Add(time.Duration(sec)*time.Second + time.Duration(slot)*time.Millisecond)
		ev := &schemas.TelemetryEvent{SchemaVersion: 1, ID: host + "-" + strconv.Itoa(i), Time: ts, Host: host}
		pid := int32(1000 + (i/10)%64)
		switch {
		case slot == 0:
			name := names[(i/10)%len(names)]
			ev.Kind = schemas.KindProcessExec
			ev.Process = &schemas.Process{PID: pid, PPID: 1, StartTime: ts, Name: name, Exe: "/usr/bin/" + name,
				UID: uint32(1000 * ((i / 10) % 2))}
		case slot <= 2:
			ev.Kind = schemas.KindProcessSample
			ev.Process = &schemas.Process{PID: pid, PPID: 1, StartTime: t0, Name: names[slot], CPUPercent: float64(i % 97),
				RSSBytes: uint64(1<<20 + (i%113)*4096), Threads: 4, FDs: int32(10 + i%7)}
		case slot <= 4:
			ev.Kind = schemas.KindConnection
			ev.Conn = &schemas.Connection{Action: "opened", Proto: "tcp", LocalAddr: "10.0.0.1", LocalPort: uint16(40000 + i%2000),
				RemoteAddr: "192.0.2." + strconv.Itoa(i%250), RemotePort: 443, PID: pid}
		default:
			ev.Kind = schemas.KindHostMetric
			ev.Metric = &schemas.Metric{Name: metrics[slot-5], Value: float64((i*7919)%1000) / 10}
		}
		out = append(out, w.Add(ev)...)
	}
	return out
}

// BenchmarkLayerJudgeReplay: vectors per second on the replay bench's vectors, the series cap
// reached (the first half of the vectors fill it; each pass of the second half shifts event
// time and renames the keys but the hosts', so they stay new).
func BenchmarkLayerJudgeReplay(b *testing.B) {
	benchJudgeNewKeys(b, replayVectors(400000), func(v *schemas.FeatureVector) bool { return v.KeyKind != window.KindHost })
}
