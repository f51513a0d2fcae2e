// Package discovery finds SNMP-speaking devices around the host: candidates from the neighbour
// table (/proc/net/arp) and configured CIDR ranges are probed, at a configured rate, with an SNMP
// GET of sysDescr, sysObjectID and sysName. It emits `device` TelemetryEvents when a device
// appears, changes (name, description or object id) or disappears (no answer for MissLimit
// sweeps). plugin.go registers the Benthos batch input `discovery`.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/amoskys/amoskys/plugins/collect/snmp"
	"github.com/amoskys/amoskys/processors/normalise"
	"github.com/amoskys/amoskys/schemas"
)

// Source is the TelemetryEvent.Source of this collector's events.
const Source = "discovery"

const (
	oidSysDescr    = ".1.3.6.1.2.1.1.1.0"
	oidSysObjectID = ".1.3.6.1.2.1.1.2.0"
	oidSysName     = ".1.3.6.1.2.1.1.5.0"
)

// Neighbour is one complete entry of the ARP table.
type Neighbour struct {
	Addr   netip.Addr
	MAC    string
	Device string
}

// ParseARP parses /proc/net/arp, keeping complete entries (flag ATF_COM) only.
func ParseARP(b []byte) []Neighbour {
	var out []Neighbour
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 6 {
			continue
		}
		addr, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		flags, err := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 32)
		if err != nil || flags&0x2 == 0 {
			continue
		}
		if f[3] == "00:00:00:00:00:00" {
			continue
		}
		out = append(out, Neighbour{Addr: addr, MAC: strings.ToLower(f[3]), Device: f[5]})
	}
	return out
}

// ExpandCIDR lists the host addresses of prefix, at most max of them (an error beyond). For IPv4
// prefixes shorter than /31 the network and broadcast addresses are left out.
func ExpandCIDR(prefix string, max int) ([]netip.Addr, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(prefix))
	if err != nil {
		if a, err2 := netip.ParseAddr(strings.TrimSpace(prefix)); err2 == nil {
			return []netip.Addr{a}, nil
		}
		return nil, fmt.Errorf("cidr %q: %w", prefix, err)
	}
	p = p.Masked()
	hostBits := p.Addr().BitLen() - p.Bits()
	if hostBits > 30 || 1<<hostBits > max+2 {
		return nil, fmt.Errorf("cidr %s has more than %d hosts: narrow it or raise max_hosts", p, max)
	}
	var out []netip.Addr
	skipEnds := p.Addr().Is4() && p.Bits() < 31
	for a := p.Addr(); p.Contains(a); a = a.Next() {
		out = append(out, a)
		if !a.Next().IsValid() {
			break
		}
	}
	if skipEnds && len(out) > 2 {
		out = out[1 : len(out)-1]
	}
	return out, nil
}

// Config configures a Collector.
type Config struct {
	CIDRs     []string      // ranges (or single addresses) to probe
	UseARP    bool          // also probe complete ARP neighbours
	ARPPath   string        // default /proc/net/arp
	Interval  time.Duration // sweep period; default 5m
	Rate      float64       // probes started per second; default 10
	Workers   int           // probes in flight; default 8
	MaxHosts  int           // per CIDR; default 1024
	MissLimit int           // sweeps without an answer before `disappeared`; default 2
	Port      uint16        // SNMP port; default 161
	// Credentials: Version, CommunityEnv or the v3 fields, Timeout and Retries; Address is ignored.
	Credentials snmp.Target
	Host        string           // host identity; default AMOSKYS_HOST_ID or hostname
	Now         func() time.Time // clock; default time.Now
}

type candidate struct {
	addr netip.Addr
	mac  string
	via  string
}

type device struct {
	dev    schemas.Device
	misses int
}

// Collector sweeps candidates and tracks devices. Sweep is not safe for concurrent use.
type Collector struct {
	cfg     Config
	devices map[netip.Addr]*device
	out     chan []*schemas.TelemetryEvent
	started atomic.Bool

	Probes, Answers atomic.Uint64
}

// NewCollector validates cfg (CIDRs parse, credentials are in the environment).
func NewCollector(cfg Config) (*Collector, error) {
	if cfg.ARPPath == "" {
		cfg.ARPPath = "/proc/net/arp"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Minute
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 10
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.MaxHosts <= 0 {
		cfg.MaxHosts = 1024
	}
	if cfg.MissLimit <= 0 {
		cfg.MissLimit = 2
	}
	if cfg.Port == 0 {
		cfg.Port = 161
	}
	if cfg.Credentials.Timeout <= 0 {
		cfg.Credentials.Timeout = time.Second
	}
	if cfg.Host == "" {
		cfg.Host = normalise.HostID()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var errs []error
	for _, c := range cfg.CIDRs {
		if _, err := ExpandCIDR(c, cfg.MaxHosts); err != nil {
			errs = append(errs, err)
		}
	}
	probe := cfg.Credentials
	probe.Address = "127.0.0.1"
	if err := probe.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Collector{cfg: cfg, devices: map[netip.Addr]*device{}, out: make(chan []*schemas.TelemetryEvent, 2)}, nil
}

// Events returns the batches (one per sweep with changes); closed after Start's context is done.
func (c *Collector) Events() <-chan []*schemas.TelemetryEvent { return c.out }

// Start sweeps at once and then every Interval.
func (c *Collector) Start(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("discovery already started")
	}
	go func() {
		defer close(c.out)
		t := time.NewTicker(c.cfg.Interval)
		defer t.Stop()
		for {
			if evs := c.Sweep(ctx); len(evs) > 0 {
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
			}
		}
	}()
	return nil
}

func (c *Collector) candidates() []candidate {
	seen := map[netip.Addr]bool{}
	var out []candidate
	if c.cfg.UseARP {
		if b, err := os.ReadFile(c.cfg.ARPPath); err == nil {
			for _, n := range ParseARP(b) {
				if !seen[n.Addr] {
					seen[n.Addr] = true
					out = append(out, candidate{addr: n.Addr, mac: n.MAC, via: "arp"})
				}
			}
		}
	}
	for _, cidr := range c.cfg.CIDRs {
		addrs, _ := ExpandCIDR(cidr, c.cfg.MaxHosts)
		for _, a := range addrs {
			if !seen[a] {
				seen[a] = true
				out = append(out, candidate{addr: a, via: "cidr"})
			}
		}
	}
	return out
}

// Sweep probes every candidate once, at the configured rate, and returns the device events.
func (c *Collector) Sweep(ctx context.Context) []*schemas.TelemetryEvent {
	cands := c.candidates()
	type answer struct {
		cand candidate
		dev  *schemas.Device
	}
	answers := make([]answer, len(cands))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < c.cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				answers[i] = answer{cand: cands[i], dev: c.probe(ctx, cands[i])}
			}
		}()
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / c.cfg.Rate))
	for i := range cands {
		if i > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	tick.Stop()
	close(jobs)
	wg.Wait()

	now := c.cfg.Now().UTC()
	var evs []*schemas.TelemetryEvent
	emit := func(d schemas.Device) {
		evs = append(evs, &schemas.TelemetryEvent{SchemaVersion: schemas.TelemetryVersion, Kind: schemas.KindDevice,
			Time: now, Host: c.cfg.Host, Source: Source, Device: &d})
	}
	answered := map[netip.Addr]bool{}
	for _, a := range answers {
		if a.dev == nil {
			continue
		}
		answered[a.cand.addr] = true
		known := c.devices[a.cand.addr]
		switch {
		case known == nil:
			a.dev.Action = "appeared"
			c.devices[a.cand.addr] = &device{dev: *a.dev}
			emit(*a.dev)
		case known.dev.SysName != a.dev.SysName || known.dev.SysDescr != a.dev.SysDescr || known.dev.SysObjectID != a.dev.SysObjectID:
			a.dev.Action = "changed"
			known.dev, known.misses = *a.dev, 0
			emit(*a.dev)
		default:
			known.misses = 0
		}
	}
	if ctx.Err() == nil {
		for addr, d := range c.devices {
			if answered[addr] {
				continue
			}
			if d.misses++; d.misses >= c.cfg.MissLimit {
				delete(c.devices, addr)
				gone := d.dev
				gone.Action = "disappeared"
				emit(gone)
			}
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Device.Address < evs[j].Device.Address })
	return evs
}

// probe asks addr for its identity; nil when it does not answer.
func (c *Collector) probe(ctx context.Context, cand candidate) *schemas.Device {
	c.Probes.Add(1)
	t := c.cfg.Credentials
	t.Address = netip.AddrPortFrom(cand.addr, c.cfg.Port).String()
	x, err := t.Dial(ctx, 1)
	if err != nil {
		return nil
	}
	defer x.Conn.Close()
	pkt, err := x.Get([]string{oidSysDescr, oidSysObjectID, oidSysName})
	if err != nil || pkt.Error != gosnmp.NoError {
		return nil
	}
	d := &schemas.Device{Address: cand.addr.String(), MAC: cand.mac, Via: cand.via}
	for _, v := range pkt.Variables {
		var s string
		switch x := v.Value.(type) {
		case []byte:
			s = strings.ToValidUTF8(string(x), "\uFFFD")
		case string:
			s = x
		}
		switch v.Name {
		case oidSysDescr:
			d.SysDescr = s
		case oidSysObjectID:
			d.SysObjectID = s
		case oidSysName:
			d.SysName = s
		}
	}
	c.Answers.Add(1)
	return d
}
