package window

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAdd measures events/s through the window logic with the default windows, on a
// stream of 3 hosts at 50 events/s each (about 150 events per host per minute), so vector
// building is amortised as it is in a live pipeline.
func BenchmarkAdd(b *testing.B) {
	evs := randomStream(20000)
	w, _ := New(DefaultConfig())
	span := evs[len(evs)-1].Time.Sub(t0) / 100
	b.ResetTimer()
	c0 := cpuTime()
	vectors := 0
	for i := 0; i < b.N; i++ {
		ev := *evs[i%len(evs)]
		ev.Time = t0.Add(ev.Time.Sub(t0)/100 + time.Duration(i/len(evs))*(span+time.Minute))
		vectors += len(w.Add(&ev))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/(cpuTime()-c0).Seconds(), "events/cpu_s")
	b.ReportMetric(float64(vectors)/float64(b.N), "vectors/event")
}

// BenchmarkAddReplayStream runs the replay benchmark's synthetic stream (8 hosts, a new process
// every second per host, so thousands of process keys live for key_idle) through Add. Its cost
// per event must not grow with b.N: before the closing-time index, advance scanned every key of
// the host at each window boundary, and events/s fell with the length of the run.
func BenchmarkAddReplayStream(b *testing.B) {
	evs := replayStream(b.N, 8, t0)
	w, _ := New(DefaultConfig())
	b.ReportAllocs()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ResetTimer()
	c0 := cpuTime()
	vectors := 0
	for _, ev := range evs {
		vectors += len(w.Add(ev))
	}
	vectors += len(w.Flush())
	b.StopTimer()
	cpu := cpuTime() - c0
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	// CPU time of the whole process (every thread, the GC's too) per event: less moved by other
	// load on the machine than the wall time.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/event")
	// allocs/op is rounded to a whole number; this is the exact figure (noise-free, unlike time).
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N), "allocs/event")
	b.ReportMetric(float64(vectors)/float64(b.N), "vectors/event")
}
