// Package host samples host metrics (CPU, memory, swap, load, disk and network I/O as rates,
// file descriptors, process count) as `host_metric` TelemetryEvents through gopsutil.
// plugin.go registers the Benthos batch input `host_metrics`.
package host

import (
	"context"
	"errors"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	gnet "github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/process"

	"github.com/amoskys/amoskys/plugins/collect/rate"
	"github.com/amoskys/amoskys/processors/normalise"
	"github.com/amoskys/amoskys/schemas"
)

// Source is the TelemetryEvent.Source of this collector's events.
const Source = "host"

// Config configures a Collector.
type Config struct {
	Interval   time.Duration    // sample period; default 5s
	Host       string           // host identity; default AMOSKYS_HOST_ID or the hostname
	Interfaces []string         // network interfaces to report; empty = all but loopback
	Disks      []string         // disks to report; empty = all whole disks and partitions gopsutil lists
	Now        func() time.Time // clock; default time.Now
}

// Collector samples host metrics. Sample is not safe for concurrent use.
type Collector struct {
	cfg     Config
	rates   *rate.Tracker
	prevCPU *cpu.TimesStat
	out     chan []*schemas.TelemetryEvent
	once    sync.Once
	errs    int
}

// NewCollector returns a Collector for cfg.
func NewCollector(cfg Config) *Collector {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Host == "" {
		cfg.Host = normalise.HostID()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Collector{cfg: cfg, rates: rate.New(), out: make(chan []*schemas.TelemetryEvent, 4)}
}

// Events returns the batches; closed after Start's context is done.
func (c *Collector) Events() <-chan []*schemas.TelemetryEvent { return c.out }

// Start samples at once (a baseline for the rates) and then every Interval.
func (c *Collector) Start(ctx context.Context) error {
	started := false
	c.once.Do(func() { started = true })
	if !started {
		return errors.New("host collector already started")
	}
	first := c.Sample(ctx)
	go func() {
		defer close(c.out)
		t := time.NewTicker(c.cfg.Interval)
		defer t.Stop()
		evs := first
		for {
			if len(evs) > 0 {
				select {
				case c.out <- evs:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				evs = c.Sample(ctx)
			}
		}
	}()
	return nil
}

type builder struct {
	host string
	t    time.Time
	evs  []*schemas.TelemetryEvent
}

func (b *builder) add(name string, v float64, unit string, labels ...string) {
	m := &schemas.Metric{Name: name, Value: v, Unit: unit}
	if len(labels) > 0 {
		m.Labels = map[string]string{}
		for i := 0; i+1 < len(labels); i += 2 {
			m.Labels[labels[i]] = labels[i+1]
		}
	}
	b.evs = append(b.evs, &schemas.TelemetryEvent{SchemaVersion: schemas.TelemetryVersion,
		Kind: schemas.KindHostMetric, Time: b.t, Host: b.host, Source: Source, Metric: m})
}

func (c *Collector) rate(b *builder, key, name, unit string, v uint64, labels ...string) {
	if r, res := c.rates.Observe(key, v, b.t, rate.W64); res == rate.OK || res == rate.Wrapped {
		b.add(name, r, unit, labels...)
	}
}

// Sample reads every source once and returns the metrics. Rates need two samples: the first
// returns only gauges.
func (c *Collector) Sample(ctx context.Context) []*schemas.TelemetryEvent {
	b := &builder{host: c.cfg.Host, t: c.cfg.Now().UTC()}
	if ts, err := cpu.TimesWithContext(ctx, false); err == nil && len(ts) == 1 {
		cur := ts[0]
		if p := c.prevCPU; p != nil {
			total := cpuTotal(cur) - cpuTotal(*p)
			if total > 0 {
				pct := func(a, b float64) float64 { return clamp((a - b) / total * 100) }
				b.add("cpu.user", pct(cur.User+cur.Nice, p.User+p.Nice), "percent")
				b.add("cpu.system", pct(cur.System+cur.Irq+cur.Softirq, p.System+p.Irq+p.Softirq), "percent")
				b.add("cpu.iowait", pct(cur.Iowait, p.Iowait), "percent")
				b.add("cpu.steal", pct(cur.Steal, p.Steal), "percent")
				b.add("cpu.idle", pct(cur.Idle, p.Idle), "percent")
			}
		}
		c.prevCPU = &cur
	} else {
		c.errs++
	}
	if n, err := cpu.CountsWithContext(ctx, true); err == nil {
		b.add("cpu.count", float64(n), "count")
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		b.add("mem.total_bytes", float64(vm.Total), "bytes")
		b.add("mem.used_bytes", float64(vm.Used), "bytes")
		b.add("mem.available_bytes", float64(vm.Available), "bytes")
		b.add("mem.used_percent", vm.UsedPercent, "percent")
	} else {
		c.errs++
	}
	if sw, err := mem.SwapMemoryWithContext(ctx); err == nil {
		b.add("swap.total_bytes", float64(sw.Total), "bytes")
		b.add("swap.used_bytes", float64(sw.Used), "bytes")
		b.add("swap.used_percent", finite(sw.UsedPercent), "percent")
	}
	if la, err := load.AvgWithContext(ctx); err == nil {
		b.add("load.1", la.Load1, "count")
		b.add("load.5", la.Load5, "count")
		b.add("load.15", la.Load15, "count")
	}
	if io, err := disk.IOCountersWithContext(ctx, c.cfg.Disks...); err == nil {
		names := sortedKeys(io)
		for _, name := range names {
			d := io[name]
			if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") {
				continue
			}
			c.rate(b, "disk.rb."+name, "disk.read_bytes_per_s", "bytes_per_s", d.ReadBytes, "disk", name)
			c.rate(b, "disk.wb."+name, "disk.write_bytes_per_s", "bytes_per_s", d.WriteBytes, "disk", name)
			c.rate(b, "disk.rc."+name, "disk.reads_per_s", "per_s", d.ReadCount, "disk", name)
			c.rate(b, "disk.wc."+name, "disk.writes_per_s", "per_s", d.WriteCount, "disk", name)
		}
	}
	if nics, err := gnet.IOCountersWithContext(ctx, true); err == nil {
		for _, n := range nics {
			if !c.wantInterface(n.Name) {
				continue
			}
			l := []string{"interface", n.Name}
			c.rate(b, "net.rb."+n.Name, "net.rx_bytes_per_s", "bytes_per_s", n.BytesRecv, l...)
			c.rate(b, "net.tb."+n.Name, "net.tx_bytes_per_s", "bytes_per_s", n.BytesSent, l...)
			c.rate(b, "net.rp."+n.Name, "net.rx_packets_per_s", "per_s", n.PacketsRecv, l...)
			c.rate(b, "net.tp."+n.Name, "net.tx_packets_per_s", "per_s", n.PacketsSent, l...)
			c.rate(b, "net.re."+n.Name, "net.rx_errors_per_s", "per_s", n.Errin, l...)
			c.rate(b, "net.te."+n.Name, "net.tx_errors_per_s", "per_s", n.Errout, l...)
			c.rate(b, "net.rd."+n.Name, "net.rx_drops_per_s", "per_s", n.Dropin, l...)
		}
	}
	if inUse, max, err := fileNr("/proc/sys/fs/file-nr"); err == nil {
		b.add("fds.in_use", float64(inUse), "count")
		b.add("fds.max", float64(max), "count")
	}
	if pids, err := process.PidsWithContext(ctx); err == nil {
		b.add("procs.count", float64(len(pids)), "count")
	}
	c.rates.Sweep()
	return b.evs
}

func (c *Collector) wantInterface(name string) bool {
	if len(c.cfg.Interfaces) == 0 {
		return name != "lo"
	}
	for _, n := range c.cfg.Interfaces {
		if n == name {
			return true
		}
	}
	return false
}

func cpuTotal(t cpu.TimesStat) float64 {
	// guest time is already inside user on Linux.
	return t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
}

func clamp(v float64) float64 {
	switch {
	case v < 0 || v != v:
		return 0
	case v > 100:
		return 100
	}
	return v
}

func finite(v float64) float64 {
	if v != v || v > 1e300 || v < -1e300 {
		return 0
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// fileNr reads /proc/sys/fs/file-nr: allocated, unused (always 0 since 2.6), max.
func fileNr(path string) (inUse, max uint64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	return parseFileNr(b)
}

func parseFileNr(b []byte) (inUse, max uint64, err error) {
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return 0, 0, errors.New("file-nr: want 3 fields")
	}
	alloc, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0, 0, err
	}
	unused, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, 0, err
	}
	if max, err = strconv.ParseUint(f[2], 10, 64); err != nil {
		return 0, 0, err
	}
	if unused > alloc {
		return 0, 0, errors.New("file-nr: unused > allocated")
	}
	return alloc - unused, max, nil
}
