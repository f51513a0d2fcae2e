package window

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/schemas"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func exec(host string, ts float64, pid int32, exe string, uid, euid, parentEuid uint32) *schemas.TelemetryEvent {
	return &schemas.TelemetryEvent{ID: fmt.Sprintf("x%v-%d", ts, pid), Kind: schemas.KindProcessExec, Host: host, Time: at(ts),
		Process: &schemas.Process{PID: pid, PPID: 1, StartTime: at(ts), Name: exe[strings.LastIndex(exe, "/")+1:], Exe: exe, UID: uid, EUID: euid,
			Ancestry: []schemas.Ancestor{{PID: 1, Exe: "/sbin/init", UID: parentEuid, EUID: parentEuid}}}}
}

func metric(host string, ts float64, name string, v float64, labels map[string]string) *schemas.TelemetryEvent {
	return &schemas.TelemetryEvent{ID: fmt.Sprintf("m%v-%s", ts, name), Kind: schemas.KindHostMetric, Host: host, Time: at(ts),
		Metric: &schemas.Metric{Name: name, Value: v, Labels: labels}}
}

func sample(host string, ts float64, pid int32, start float64, cpu float64, rss uint64, read uint64) *schemas.TelemetryEvent {
	return &schemas.TelemetryEvent{ID: fmt.Sprintf("s%v-%d", ts, pid), Kind: schemas.KindProcessSample, Host: host, Time: at(ts),
		Process: &schemas.Process{PID: pid, StartTime: at(start), Name: "worker", CPUPercent: cpu, RSSBytes: rss, ReadBytes: read, FDs: 7, Threads: 3}}
}

func tumbling(d time.Duration) Config {
	c := DefaultConfig()
	c.Windows = []Spec{{d, d, nil}}
	c.AllowedLateness = 0
	return c
}

func get(t *testing.T, fv *schemas.FeatureVector, name string) float64 {
	t.Helper()
	v, ok := fv.Get(name)
	if !ok {
		t.Fatalf("no feature %s", name)
	}
	return v
}

func find(fvs []*schemas.FeatureVector, kind, key string) *schemas.FeatureVector {
	for _, f := range fvs {
		if f.KeyKind == kind && f.Key == key {
			return f
		}
	}
	return nil
}

func TestTumblingAggregates(t *testing.T) {
	w, err := New(tumbling(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var out []*schemas.FeatureVector
	add := func(ev *schemas.TelemetryEvent) { out = append(out, w.Add(ev)...) }
	add(metric("h", 1, "cpu.user", 10, nil))
	add(metric("h", 11, "cpu.user", 20, nil))
	add(metric("h", 21, "cpu.user", 30, nil))
	add(metric("h", 7, "load.1", 2.5, nil))          // the host collector's names
	add(metric("h", 8, "mem.used_percent", 40, nil)) // map to load1 and mem.used_pct
	add(metric("h", 5, "net.rx_bytes_per_s", 100, map[string]string{"interface": "eth0"}))
	add(metric("h", 5, "net.rx_bytes_per_s", 50, map[string]string{"interface": "eth1"}))
	add(metric("h", 5, "net.rx_bytes_per_s", 999, map[string]string{"interface": "lo"}))
	add(metric("h", 15, "net.rx_bytes_per_s", 300, map[string]string{"interface": "eth0"}))
	add(exec("h", 2, 100, "/usr/bin/ls", 1000, 1000, 1000))
	add(exec("h", 3, 101, "/usr/bin/ls", 1000, 1000, 1000))
	add(exec("h", 4, 102, "/tmp/x", 1000, 0, 1000))
	add(sample("h", 10, 100, 2, 5, 1000, 0))
	add(sample("h", 20, 100, 2, 15, 3000, 500))
	if len(out) != 0 {
		t.Fatalf("emitted %d vectors before the window closed", len(out))
	}
	add(metric("h", 61, "cpu.user", 1, nil)) // closes [0,60)
	host := find(out, KindHost, "host")
	if host == nil {
		t.Fatalf("no host vector in %d", len(out))
	}
	if host.Window != "1m" || !host.Start.Equal(t0) || !host.End.Equal(at(60)) {
		t.Fatalf("window %s %v..%v", host.Window, host.Start, host.End)
	}
	checks := map[string]float64{
		"cpu.user": 20, "cpu.user.max": 30, "cpu.user.stddev": math.Sqrt(200.0 / 3),
		"net.rx_bytes_per_s": (100 + 50 + 300) / 2.0, // per sample time: (150 + 300) / 2, lo left out
		"proc.exec_count":    3, "proc.exec_rate": 3.0 / 60, "proc.distinct_exe_count": 2, "proc.new_exe_count": 2,
		"proc.priv_esc_count": 1, "events.count": 14, "load1": 2.5, "mem.used_pct": 40,
	}
	for n, want := range checks {
		if got := get(t, host, n); math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", n, got, want)
		}
	}
	if strings.Join(host.Flags, ",") != "new_executable,privilege_escalation" {
		t.Errorf("flags %v", host.Flags)
	}
	if len(host.Names) != len(HostFeatures) || len(host.Values) != len(host.Names) || len(host.Normalised) != len(host.Names) {
		t.Fatal("names/values/normalised lengths differ")
	}
	p := find(out, KindProcess, KeyString(100, at(2)))
	if p == nil {
		t.Fatal("no process vector")
	}
	for n, want := range map[string]float64{"cpu_percent": 10, "cpu_percent.max": 15, "rss_bytes": 2000, "fds": 7, "threads": 3, "samples": 2, "read_bytes_per_s": 50} {
		if got := get(t, p, n); math.Abs(got-want) > 1e-9 {
			t.Errorf("process %s = %v, want %v", n, got, want)
		}
	}
	eth0 := find(out, KindInterface, "if:eth0")
	if eth0 == nil || get(t, eth0, "in_octets_per_s") != 200 || get(t, eth0, "in_octets_per_s.max") != 300 {
		t.Fatalf("eth0 %+v", eth0)
	}
}

func TestSlidingWindowsContainEachEventOnce(t *testing.T) {
	c := DefaultConfig()
	c.Windows = []Spec{{5 * time.Minute, time.Minute, nil}}
	c.AllowedLateness = 0
	c.KeyKinds = []string{KindHost}
	w, _ := New(c)
	var out []*schemas.FeatureVector
	out = append(out, w.Add(exec("h", 30, 1, "/usr/bin/a", 0, 0, 0))...)
	out = append(out, w.Add(exec("h", 30+600, 2, "/usr/bin/b", 0, 0, 0))...)
	// the first event lies in the 5 windows ending at 1..5 minutes
	if len(out) != 5 {
		t.Fatalf("%d vectors, want 5", len(out))
	}
	for i, fv := range out {
		if fv.Window != "5m" || !fv.End.Equal(at(float64(60*(i+1)))) || get(t, fv, "proc.exec_count") != 1 {
			t.Fatalf("vector %d: %s end %v count %v", i, fv.Window, fv.End, get(t, fv, "proc.exec_count"))
		}
	}
	rest := w.Flush()
	if len(rest) != 5 {
		t.Fatalf("flush gave %d vectors, want 5", len(rest))
	}
}

func TestLateEventsCountedNotAggregated(t *testing.T) {
	c := tumbling(time.Minute)
	c.AllowedLateness = 10 * time.Second
	c.KeyKinds = []string{KindHost}
	w, _ := New(c)
	var out []*schemas.FeatureVector
	out = append(out, w.Add(exec("h", 5, 1, "/a", 0, 0, 0))...)
	out = append(out, w.Add(exec("h", 65, 2, "/b", 0, 0, 0))...)
	out = append(out, w.Add(exec("h", 58, 3, "/c", 0, 0, 0))...) // within lateness: counts
	out = append(out, w.Add(exec("h", 71, 4, "/d", 0, 0, 0))...) // closes [0,60)
	out = append(out, w.Add(exec("h", 59, 5, "/e", 0, 0, 0))...) // late
	if len(out) != 1 || get(t, out[0], "proc.exec_count") != 2 {
		t.Fatalf("out %d", len(out))
	}
	if s := w.Stats(); s.Late != 1 || s.Events != 5 {
		t.Fatalf("stats %+v", s)
	}
}

func TestSpikeFlag(t *testing.T) {
	c := tumbling(time.Minute)
	c.KeyKinds = []string{KindHost}
	w, _ := New(c)
	var out []*schemas.FeatureVector
	for m := 0; m < 20; m++ {
		v := 10 + float64(m%3)
		if m == 18 {
			v = 95
		}
		out = append(out, w.Add(metric("h", float64(m*60+1), "cpu.user", v, nil))...)
	}
	for _, fv := range out {
		spiked := false
		for _, f := range fv.Flags {
			if f == "spike:cpu.user" {
				spiked = true
			}
		}
		if want := fv.Start.Equal(at(18 * 60)); spiked != want {
			t.Fatalf("window %v: spike %v, want %v (flags %v)", fv.Start, spiked, want, fv.Flags)
		}
	}
	last := out[len(out)-1] // the spike window: window 19 is still open
	i := featIdx[KindHost]["cpu.user"]
	if last.Normalised[i] < 0.99 {
		t.Fatalf("normalised spike %v", last.Normalised[i])
	}
}

func TestKeyCapAndExpiry(t *testing.T) {
	c := tumbling(time.Minute)
	c.MaxKeys = 5
	c.KeyIdle = time.Minute
	w, _ := New(c)
	for i := 0; i < 20; i++ {
		w.Add(exec("h", float64(i), int32(100+i), "/bin/x", 0, 0, 0))
	}
	if s := w.Stats(); s.Keys != 5 || s.KeysDropped != 16 { // the host key and 4 processes
		t.Fatalf("stats %+v", s)
	}
	w.Add(exec("h", 600, 1, "/bin/x", 0, 0, 0)) // far later: old windows close, idle keys go
	if s := w.Stats(); s.Keys > 2 {
		t.Fatalf("keys not expired: %+v", s)
	}
}

// randomStream is a mixed stream over 3 hosts with some disorder.
func randomStream(n int) []*schemas.TelemetryEvent {
	r := rand.New(rand.NewPCG(3, 4))
	var evs []*schemas.TelemetryEvent
	for i := 0; i < n; i++ {
		h := fmt.Sprintf("h%d", r.IntN(3))
		ts := float64(i)*2 + r.Float64()*20 - 10
		switch r.IntN(5) {
		case 0:
			evs = append(evs, exec(h, ts, int32(r.IntN(50)+10), fmt.Sprintf("/usr/bin/p%d", r.IntN(8)), 1000, uint32(r.IntN(2)*1000), 1000))
		case 1:
			pid := r.IntN(50) + 10
			evs = append(evs, sample(h, ts, int32(pid), float64(-pid), r.Float64()*100, uint64(r.IntN(1e6)), uint64(i*100)))
		case 2:
			evs = append(evs, &schemas.TelemetryEvent{ID: fmt.Sprint("c", i), Kind: schemas.KindConnection, Host: h, Time: at(ts),
				Conn: &schemas.Connection{Action: "opened", Proto: "tcp", RemoteAddr: fmt.Sprintf("10.0.0.%d", r.IntN(9)), RemotePort: 443, PID: int32(r.IntN(50) + 10)}})
		case 3:
			evs = append(evs, &schemas.TelemetryEvent{ID: fmt.Sprint("n", i), Kind: schemas.KindSNMPMetric, Host: h, Time: at(ts),
				Metric: &schemas.Metric{Name: "if.in_octets_per_s", Value: r.Float64() * 1e6, Device: "192.0.2.1", Labels: map[string]string{"ifName": fmt.Sprint("ge", r.IntN(3))}}})
		default:
			evs = append(evs, metric(h, ts, "cpu.user", r.Float64()*100, nil))
		}
	}
	return evs
}

func runProcessor(t *testing.T, p service.BatchProcessor, evs []*schemas.TelemetryEvent, cuts []int) []string {
	t.Helper()
	var out []string
	prev := 0
	for _, c := range append(cuts, len(evs)) {
		var batch service.MessageBatch
		for _, ev := range evs[prev:c] {
			cp := *ev
			batch = append(batch, envelope.NewEvent(&cp))
		}
		prev = c
		if len(batch) == 0 {
			continue
		}
		res, err := p.ProcessBatch(t.Context(), batch)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range res {
			for _, m := range b {
				v, _ := m.AsStructured()
				js, _ := json.Marshal(v)
				out = append(out, envelope.Type(m)+" "+string(js))
			}
		}
	}
	eof := service.NewMessage(nil)
	eof.MetaSetMut(MetaEOF, true)
	res, _ := p.ProcessBatch(t.Context(), service.MessageBatch{eof})
	for _, b := range res {
		for _, m := range b[1:] {
			v, _ := m.AsStructured()
			js, _ := json.Marshal(v)
			out = append(out, "flush "+string(js))
		}
	}
	return out
}

func newTestProcessor(t *testing.T) service.BatchProcessor {
	t.Helper()
	conf, err := spec().ParseYAML(`allowed_lateness: 5s`, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newProcessor(conf, service.MockResources())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The same events split into different batches give byte-identical output.
func TestDeterministicAcrossBatchSplits(t *testing.T) {
	evs := randomStream(600)
	ref := runProcessor(t, newTestProcessor(t), evs, nil)
	features := 0
	for _, l := range ref {
		if strings.HasPrefix(l, "features") || strings.HasPrefix(l, "flush") {
			features++
		}
	}
	if features < 50 {
		t.Fatalf("only %d feature vectors", features)
	}
	r := rand.New(rand.NewPCG(9, 9))
	for trial := 0; trial < 4; trial++ {
		var cuts []int
		for c := r.IntN(50) + 1; c < len(evs); c += r.IntN(200) + 1 {
			cuts = append(cuts, c)
		}
		got := runProcessor(t, newTestProcessor(t), evs, cuts)
		if len(got) != len(ref) {
			t.Fatalf("trial %d: %d messages, want %d", trial, len(got), len(ref))
		}
		for i := range got {
			if got[i] != ref[i] {
				t.Fatalf("trial %d: message %d differs:\n%s\n%s", trial, i, got[i], ref[i])
			}
		}
	}
}

// With concurrent callers (pipeline.threads > 1) each host's vectors are the same as in a
// sequential run, because state is per host under a lock (each caller an Adder, which holds its
// shard's lock across events).
func TestConcurrentHostsMatchSequential(t *testing.T) {
	evs := randomStream(1200)
	byHost := map[string][]*schemas.TelemetryEvent{}
	for _, ev := range evs {
		byHost[ev.Host] = append(byHost[ev.Host], ev)
	}
	collect := func(parallel bool) []string {
		w, _ := New(DefaultConfig())
		var mu sync.Mutex
		var lines []string
		var wg sync.WaitGroup
		for _, hevs := range byHost {
			run := func(hevs []*schemas.TelemetryEvent) {
				defer wg.Done()
				a := w.Adder() // holds its shard's lock across the host's events (another host may share the shard)
				defer a.Release()
				for _, ev := range hevs {
					for _, fv := range a.Add(ev) {
						js, _ := json.Marshal(fv)
						mu.Lock()
						lines = append(lines, string(js))
						mu.Unlock()
					}
				}
			}
			wg.Add(1)
			if parallel {
				go run(hevs)
			} else {
				run(hevs)
			}
		}
		wg.Wait()
		for _, fv := range w.Flush() {
			js, _ := json.Marshal(fv)
			lines = append(lines, string(js))
		}
		sort.Strings(lines)
		return lines
	}
	a, b := collect(false), collect(true)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatal("parallel run differs from sequential run")
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.Windows = []Spec{{time.Minute, 7 * time.Second, nil}}
	c.Normalise = "zscore"
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "multiple of slide") || !strings.Contains(err.Error(), "zscore") {
		t.Fatalf("err %v", err)
	}
}

func TestPassThroughAndBadMessages(t *testing.T) {
	p := newTestProcessor(t)
	bad := service.NewMessage([]byte("{not json"))
	good := envelope.NewEvent(exec("h", 1, 1, "/bin/a", 0, 0, 0))
	res, err := p.ProcessBatch(context.Background(), service.MessageBatch{bad, good})
	if err != nil || len(res) != 1 || len(res[0]) != 2 {
		t.Fatalf("res %v err %v", res, err)
	}
	if res[0][0].GetError() == nil {
		t.Fatal("bad message not marked failed")
	}
	if _, ok := res[0][0].MetaGet(envelope.MetaDLQ); !ok {
		t.Fatal("no dead-letter reason")
	}
}

func TestEventsWithoutTimeAreNotAggregated(t *testing.T) {
	w, _ := New(tumbling(time.Minute))
	ev := exec("h", 1, 1, "/bin/a", 0, 0, 0)
	ev.Time = time.Time{}
	if out := w.Add(ev); len(out) != 0 {
		t.Fatal("vectors from an event without time")
	}
	if s := w.Stats(); s.Invalid != 1 || s.Keys != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// End closes the windows ending by the end of the input's range: with no range end, the
// host's latest event time (the lateness holdback is released, the window the data cuts short
// stays open); with one, every window ending by it.
func TestEndClosesTheWindowsOfTheRange(t *testing.T) {
	feed := func() *Window {
		w, err := New(DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		for s := 0; s <= 185; s += 5 { // 12:00:00 .. 12:03:05 (t0 is on the hour)
			w.Add(&schemas.TelemetryEvent{ID: fmt.Sprintf("m%d", s), Kind: schemas.KindHostMetric, Host: "h1",
				Time: t0.Add(time.Duration(s) * time.Second), Metric: &schemas.Metric{Name: "cpu.user", Value: float64(s)}})
		}
		return w
	}
	closed := func(fvs []*schemas.FeatureVector) []string {
		var got []string
		for _, fv := range fvs {
			if fv.KeyKind == KindHost {
				got = append(got, fv.Window+" "+fv.End.Sub(t0).String())
			}
		}
		slices.Sort(got)
		return got
	}
	// The watermark (3:05 minus 10 s of lateness) has not closed the windows ending at 3:00.
	w := feed()
	if got, want := closed(w.End(time.Time{})), []string{"1m 3m0s", "5m 3m0s"}; !slices.Equal(got, want) {
		t.Fatalf("closed at the end of the data: %v, want %v", got, want)
	}
	if again := w.End(time.Time{}); len(again) != 0 {
		t.Fatalf("a second End closed %d more windows", len(again))
	}
	// A range ending at 4:00: the minute 3:00-4:00 and the 5m window ending then are whole.
	w = feed()
	if got, want := closed(w.End(t0.Add(4*time.Minute))), []string{"1m 3m0s", "1m 4m0s", "5m 3m0s", "5m 4m0s"}; !slices.Equal(got, want) {
		t.Fatalf("closed at the end of the range: %v, want %v", got, want)
	}
}
