package window

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/amoskys/amoskys/schemas"
)

// goldenVectorsSHA256 is, per case of goldenCases, the sha256 of every vector (JSON) Add, End
// and Flush return and of Stats after each of them, written by the code before the speed-ups of
// 2026-11-26 evening (19d03b0): a change to the window stage must leave its output byte-identical.
var goldenVectorsSHA256 = map[string]string{
	"default/replay":      "7a5ed94c23792b564495c666459a3127aa394b1f64e1db7637386ee2f152ec6d",
	"default/mixed":       "c042d196fe284dd52a604c081da830f56ed268ea9a95afae13c466c88efd9703",
	"default/random":      "d14a265dc8d13fd21f40a4718b4d4d3ef169e16820bbae18d0756460a4c1c02e",
	"idle90s/replay":      "cdabf2cbdd0249ae42c752d020e0bf61a205917872c7dd74b51bc4d1f8f22ab8",
	"idle90s/mixed":       "aab880ec474b0eee8f77ae333535d97c257fca0ff5804e5934373f2b6f227bb3",
	"cap/mixed":           "1ee3083767997ad9403575e401df23c51107843bf2ddf8122418aa38ab0ce505",
	"cap/replay":          "b309c1196a3263fee46b0756c0d1d76268a833bb7cbbcc2758a83ae02b85fcc1",
	"minmax/mixed":        "0cef3031b4c85dc1c49ec3d0bfe2c7aa1049d8b2fbbc40b55fc64ce2c2c8d355",
	"short-history/mixed": "8d91adc03796060dd88c97341261e9d062b86b1f08da0e53270e62055069bf2f",
	"zero-spike/mixed":    "774c1924f60d709484effc8606ea80e0a4e38f984d9eb4d4a7ad6ed3cf4800b6",
	"six-windows/mixed":   "55bdc8741d93f7f7ce74f8c81c88a9e02b54f9670179a9919d8466b4f96b7cdc",
	"six-windows/replay":  "c12b6a925a95804f2815ab9b5f45571f9d9b944063c9e6f90fbaff3bee10b9a5",
	"process-only/mixed":  "acde30062e279fec23dc640ac9da2e062af54e52d19d22d7bfccb23334f567bd",
}

// mixedStream has every kind of event the window stage reads, with the cases its key handling
// must get right: exits, pid reuse, samples without a start time, children of known parents,
// listeners, closed connections, host and SNMP interfaces, loopback, NaN values, device events,
// late events and events with no usable time.
func mixedStream(n int, seed uint64) []*schemas.TelemetryEvent {
	r := rand.New(rand.NewPCG(seed, 11))
	exes := []string{"/usr/bin/bash", "/usr/bin/curl", "/tmp/x", "", "/usr/sbin/sshd"}
	var evs []*schemas.TelemetryEvent
	for i := 0; i < n; i++ {
		h := fmt.Sprintf("g%d", r.IntN(4))
		ts := t0.Add(time.Duration(i)*700*time.Millisecond + time.Duration(r.IntN(15000)-7000)*time.Millisecond)
		if r.IntN(200) == 0 {
			ts = ts.Add(-3 * time.Minute) // late
		}
		ev := &schemas.TelemetryEvent{ID: fmt.Sprint("e", i), Host: h, Time: ts}
		pid := int32(r.IntN(40) + 2)
		start := t0.Add(time.Duration(pid%7) * time.Minute)
		switch k := r.IntN(16); k {
		case 0, 1:
			ev.Kind = schemas.KindProcessExec
			if k == 1 {
				start = ts // a new process with a reused pid
			}
			ev.Process = &schemas.Process{PID: pid, PPID: int32(r.IntN(42)), StartTime: start, Name: fmt.Sprint("p", pid%5),
				Exe: exes[r.IntN(len(exes))], UID: uint32(r.IntN(3) * 1000), EUID: uint32(r.IntN(2) * 1000)}
			if r.IntN(2) == 0 {
				ev.Process.Ancestry = []schemas.Ancestor{{PID: 1, EUID: uint32(r.IntN(2) * 1000)}}
			}
		case 2:
			ev.Kind = schemas.KindProcessExit
			ev.Process = &schemas.Process{PID: pid, StartTime: start}
		case 3, 4, 5:
			ev.Kind = schemas.KindProcessSample
			ev.Process = &schemas.Process{PID: pid, Name: fmt.Sprint("p", pid%5), CPUPercent: r.Float64() * 100,
				RSSBytes: uint64(r.IntN(1 << 30)), ReadBytes: uint64(i * 1000), WriteBytes: uint64(i * r.IntN(50)), FDs: int32(r.IntN(90)), Threads: int32(r.IntN(9))}
			if k != 5 {
				ev.Process.StartTime = start // k == 5: no start time, the pid's known one is used
			}
		case 6, 7:
			ev.Kind = schemas.KindConnection
			ev.Conn = &schemas.Connection{Action: []string{"opened", "closed"}[r.IntN(2)], Proto: "tcp",
				RemoteAddr: []string{"", "198.51.100.1", fmt.Sprint("203.0.113.", r.IntN(30))}[r.IntN(3)], RemotePort: 443, PID: pid * int32(r.IntN(2))}
		case 8:
			ev.Kind = schemas.KindListener
			ev.Conn = &schemas.Connection{Action: []string{"opened", "opened", "closed"}[r.IntN(3)], Proto: "tcp", LocalAddr: "0.0.0.0",
				LocalPort: uint16(r.IntN(5) + 8000), Exe: exes[r.IntN(len(exes))], PID: pid}
		case 9, 10, 11:
			names := []string{"cpu.user", "cpu.system", "cpu.iowait", "mem.used_percent", "swap.used_pct", "load.1", "load5",
				"net.rx_bytes_per_s", "net.tx_packets_per_s", "disk.read_bytes_per_s", "disk.write_bytes_per_s", "net.rx_drops_per_s", "unknown.metric"}
			v := r.Float64() * 100
			if r.IntN(300) == 0 {
				v = math.NaN()
			}
			if r.IntN(50) == 0 {
				v *= 40 // a spike
			}
			ev.Kind = schemas.KindHostMetric
			ev.Metric = &schemas.Metric{Name: names[r.IntN(len(names))], Value: v}
			if r.IntN(2) == 0 {
				ev.Metric.Labels = map[string]string{"interface": []string{"eth0", "eth1", "lo"}[r.IntN(3)]}
			}
		case 12, 13:
			names := []string{"if.in_octets_per_s", "if.out_octets_per_s", "if.in_errors_per_s", "if.out_discards_per_s",
				"if.oper_status", "hr.swrun_count", "hr.processor_load_percent", "sys.uptime", "if.in_ucast_pkts_per_s"}
			ev.Kind = schemas.KindSNMPMetric
			ev.Metric = &schemas.Metric{Name: names[r.IntN(len(names))], Value: float64(r.IntN(3)), Device: fmt.Sprint("192.0.2.", r.IntN(3))}
			switch r.IntN(4) {
			case 0:
				ev.Metric.Labels = map[string]string{"interface": fmt.Sprint("ge", r.IntN(3))}
			case 1:
				ev.Metric.Labels = map[string]string{"ifName": fmt.Sprint("xe", r.IntN(2))}
			case 2:
				ev.Metric.Labels = map[string]string{"ifIndex": fmt.Sprint(r.IntN(4))}
			}
		case 14:
			ev.Kind = schemas.KindDevice
			ev.Device = &schemas.Device{Address: fmt.Sprint("192.0.2.", r.IntN(3)), SysName: []string{"", "sw1"}[r.IntN(2)]}
		default:
			ev.Kind = schemas.KindProcessExec // no process: ignored
			if r.IntN(3) == 0 {
				ev.Time = time.Time{} // no usable time
			}
		}
		evs = append(evs, ev)
	}
	return evs
}

type goldenCase struct {
	name string
	cfg  func() Config
	evs  func() []*schemas.TelemetryEvent
	end  time.Duration // End(t0 + end) before Flush; 0: End(zero time)
}

func goldenCases() []goldenCase {
	def := DefaultConfig
	mod := func(f func(*Config)) func() Config {
		return func() Config {
			c := DefaultConfig()
			f(&c)
			return c
		}
	}
	replay := func() []*schemas.TelemetryEvent { return replayStream(30000, 3, t0) }
	mixed := func() []*schemas.TelemetryEvent { return mixedStream(12000, 5) }
	random := func() []*schemas.TelemetryEvent { return randomStream(3000) }
	return []goldenCase{
		{"default/replay", def, replay, 0},
		{"default/mixed", def, mixed, 3 * time.Hour},
		{"default/random", def, random, 0},
		{"idle90s/replay", mod(func(c *Config) { c.KeyIdle = 90 * time.Second }), replay, 0},
		{"idle90s/mixed", mod(func(c *Config) { c.KeyIdle = 90 * time.Second }), mixed, 0},
		{"cap/mixed", mod(func(c *Config) { c.MaxKeys = 60; c.KeyIdle = 3 * time.Minute; c.MaxSeen = 7 }), mixed, 0},
		{"cap/replay", mod(func(c *Config) { c.MaxKeys = 300; c.KeyIdle = 3 * time.Minute }), replay, 0},
		{"minmax/mixed", mod(func(c *Config) { c.Normalise = NormMinMax; c.AllowedLateness = 0 }), mixed, 0},
		{"short-history/mixed", mod(func(c *Config) { c.History = 3; c.MinHistory = 1; c.SpikeZ = 0.5; c.MaxEventIDs = 2 }), mixed, 0},
		{"zero-spike/mixed", mod(func(c *Config) { c.MinHistory = 0; c.SpikeZ = 0; c.MaxEventIDs = 0 }), mixed, 0},
		{"six-windows/mixed", mod(func(c *Config) {
			c.Windows = append(c.Windows, Spec{30 * time.Second, 10 * time.Second, nil}, Spec{2 * time.Minute, 2 * time.Minute, []string{KindProcess}},
				Spec{10 * time.Minute, 5 * time.Minute, []string{KindInterface, KindDevice}})
			c.KeyKinds = []string{KindHost, KindProcess, KindDevice}
		}), mixed, 0},
		{"six-windows/replay", mod(func(c *Config) {
			c.Windows = append(c.Windows, Spec{30 * time.Second, 10 * time.Second, nil}, Spec{2 * time.Minute, 2 * time.Minute, []string{KindProcess}},
				Spec{10 * time.Minute, 5 * time.Minute, []string{KindInterface, KindDevice}})
		}), replay, 0},
		{"process-only/mixed", mod(func(c *Config) { c.KeyKinds = []string{KindProcess} }), mixed, 0},
	}
}

// goldenDigest runs one case and hashes everything the Window returns.
func goldenDigest(t *testing.T, c goldenCase) (string, int) {
	t.Helper()
	w, err := New(c.cfg())
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n := 0
	write := func(h hash.Hash, fvs []*schemas.FeatureVector) {
		for _, fv := range fvs {
			js, err := json.Marshal(fv)
			if err != nil {
				t.Fatal(err)
			}
			h.Write(js)
			h.Write([]byte{'\n'})
			n++
		}
		fmt.Fprintf(h, "%+v\n", w.Stats())
	}
	for i, ev := range c.evs() {
		fvs := w.Add(ev)
		if len(fvs) > 0 || i%101 == 0 {
			write(h, fvs)
		}
	}
	var until time.Time
	if c.end != 0 {
		until = t0.Add(c.end)
	}
	write(h, w.End(until))
	write(h, w.Flush())
	return hex.EncodeToString(h.Sum(nil)), n
}

// Every case's output is what the code before the speed-ups returned.
func TestGoldenVectors(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			d, n := goldenDigest(t, c)
			t.Logf("%d vectors, %s", n, d)
			if n == 0 {
				t.Fatal("no vectors")
			}
			if want := goldenVectorsSHA256[c.name]; want != d {
				t.Fatalf("digest %s, want %s", d, want)
			}
		})
	}
}
