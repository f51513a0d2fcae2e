package connections

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amoskys/amoskys/processors/normalise"
	"github.com/amoskys/amoskys/schemas"
)

// Source is the TelemetryEvent.Source of this collector's events.
const Source = "connections"

// LabelSeenBy is "initial" on events describing sockets that existed when the collector started,
// SeenByTimeWait on a connection that opened and closed between two reads.
const (
	LabelSeenBy    = "seen_by"
	SeenByTimeWait = "time_wait"
)

// Metric names of the TCP open accounting (Config.OpenCounts).
const (
	MetricTCPOpened       = "tcp.opened"
	MetricTCPOpenedUnseen = "tcp.opened_unseen"
)

// Config configures a Collector. Zero values take the defaults shown.
type Config struct {
	Interval    time.Duration    // diff period; default 5s
	Protocols   []string         // of tcp, tcp6, udp, udp6; default all four
	Host        string           // host identity; default AMOSKYS_HOST_ID or the hostname
	EmitInitial *bool            // emit opened for the sockets present at start; default true
	ProcRoot    string           // default /proc
	Now         func() time.Time // event clock; default time.Now
	// ShortLived reports TCP connections that opened and closed between two reads and left a
	// TIME_WAIT socket (this host closed first): an opened and a closed event, labelled
	// seen_by=time_wait, without pid (the owner is gone). Default true.
	ShortLived *bool
	// OpenCounts emits, every read after the first, host_metric events tcp.opened (TCP sockets the
	// kernel opened since the previous read: Tcp ActiveOpens + PassiveOpens of /proc/net/snmp) and
	// tcp.opened_unseen (those this collector did not report). Default true.
	OpenCounts *bool
}

func (c *Config) defaults() error {
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	if len(c.Protocols) == 0 {
		c.Protocols = []string{"tcp", "tcp6", "udp", "udp6"}
	}
	for _, p := range c.Protocols {
		switch p {
		case "tcp", "tcp6", "udp", "udp6":
		default:
			return fmt.Errorf("protocol %q: want tcp, tcp6, udp or udp6", p)
		}
	}
	if c.Host == "" {
		c.Host = normalise.HostID()
	}
	if c.EmitInitial == nil {
		t := true
		c.EmitInitial = &t
	}
	if c.ProcRoot == "" {
		c.ProcRoot = "/proc"
	}
	t := true
	if c.ShortLived == nil {
		c.ShortLived = &t
	}
	if c.OpenCounts == nil {
		c.OpenCounts = &t
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Stats counts what a Collector did.
type Stats struct {
	Scans, Opened, Closed, BadLines, FDScans uint64
	FullFDScans                              uint64 // fd scans that had to readlink every fd
	ShortLived                               uint64 // connections seen only in TIME_WAIT (opened and closed between reads)
	NetlinkReads, ProcNetReads               uint64 // tables read through sock_diag, and as /proc/net text
	TCPOpened                                uint64 // TCP sockets the kernel opened since the first read (/proc/net/snmp)
	TCPUnseen                                uint64 // of which this collector reported none
}

type owner struct {
	pid       int32
	name, exe string
}

type tracked struct {
	sock     Socket
	listener bool
	owner    owner
}

// Collector diffs the socket table. Not safe for concurrent Scan calls.
type Collector struct {
	cfg    Config
	known  map[string]*tracked // key: proto|local|remote|inode
	inode  map[uint64]owner
	fds    map[int32]map[string]uint64 // pid → fd name → socket inode (0: not a socket)
	owners map[int32]owner             // pids holding sockets
	out    chan []*schemas.TelemetryEvent
	first  bool

	tw map[string]bool // proto|local|remote of the TIME_WAIT sockets in the last read

	// diag dumps the tables over NETLINK_SOCK_DIAG; nil (or a failing table) falls back to
	// /proc/net. Only for the real /proc: a ProcRoot elsewhere is read as files.
	diag *sockDiag

	// TCP open accounting, cumulative since the first read: kernel opens, opens reported, and
	// unseen opens already reported.
	snmpBase, kernelOpens, seenOpens, unseenOut uint64
	snmpOK                                      bool

	scans, opened, closed, bad, fdScans, fullScans, shortLived, tcpOpened, tcpUnseen, nlReads, procReads atomic.Uint64
	startOnce                                                                                            sync.Once
}

// ErrNoProcNet says the collector cannot work here: it needs Linux's /proc/net.
var ErrNoProcNet = errors.New("connections collector needs Linux /proc/net")

// NewCollector checks cfg and that /proc/net is readable.
func NewCollector(cfg Config) (*Collector, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(cfg.ProcRoot, "net", "tcp")); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoProcNet, err)
	}
	c := &Collector{cfg: cfg, known: map[string]*tracked{}, inode: map[uint64]owner{},
		fds: map[int32]map[string]uint64{}, owners: map[int32]owner{},
		out: make(chan []*schemas.TelemetryEvent, 4), first: true}
	if filepath.Clean(cfg.ProcRoot) == "/proc" {
		c.diag, _ = newSockDiag() // nil: /proc/net text
	}
	return c, nil
}

// Close releases the netlink socket; Start's goroutine calls it when its context ends.
func (c *Collector) Close() error {
	if c.diag == nil {
		return nil
	}
	err := c.diag.Close()
	c.diag = nil
	return err
}

// table reads one socket table: sock_diag when it works for it, else /proc/net/<proto>.
func (c *Collector) table(proto string) ([]Socket, error) {
	if c.diag != nil {
		if socks, err := c.diag.dump(proto, nil); err == nil {
			c.nlReads.Add(1)
			return socks, nil
		}
	}
	b, err := os.ReadFile(filepath.Join(c.cfg.ProcRoot, "net", proto))
	if err != nil {
		return nil, err
	}
	c.procReads.Add(1)
	socks, bad := ParseProcNet(proto, b)
	c.bad.Add(uint64(bad))
	return socks, nil
}

// Stats returns the counters so far.
func (c *Collector) Stats() Stats {
	return Stats{Scans: c.scans.Load(), Opened: c.opened.Load(), Closed: c.closed.Load(), BadLines: c.bad.Load(), FDScans: c.fdScans.Load(),
		FullFDScans: c.fullScans.Load(), ShortLived: c.shortLived.Load(), NetlinkReads: c.nlReads.Load(), ProcNetReads: c.procReads.Load(), TCPOpened: c.tcpOpened.Load(), TCPUnseen: c.tcpUnseen.Load()}
}

// Events returns the batches; closed after Start's context is done.
func (c *Collector) Events() <-chan []*schemas.TelemetryEvent { return c.out }

// Start scans at once and then every Interval, until ctx is done.
func (c *Collector) Start(ctx context.Context) error {
	started := false
	c.startOnce.Do(func() { started = true })
	if !started {
		return errors.New("connections collector already started")
	}
	first := c.Scan()
	go func() {
		defer close(c.out)
		defer c.Close()
		send := func(evs []*schemas.TelemetryEvent) bool {
			if len(evs) == 0 {
				return true
			}
			select {
			case c.out <- evs:
				return true
			case <-ctx.Done():
				return false
			}
		}
		if !send(first) {
			return
		}
		t := time.NewTicker(c.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if !send(c.Scan()) {
					return
				}
			}
		}
	}()
	return nil
}

func key(s Socket) string {
	return tuple(s) + "|" + strconv.FormatUint(s.Inode, 10)
}

// tuple is proto|local|remote: one connection whatever its socket inode (0 once in TIME_WAIT).
func tuple(s Socket) string {
	return s.Proto + "|" + s.Local.String() + "|" + s.Remote.String()
}

// tcpTimeWait is the st value of a TIME_WAIT socket.
const tcpTimeWait = 0x06

func isTCP(proto string) bool { return proto == "tcp" || proto == "tcp6" }

// Scan reads the socket table once and returns the events for what changed since the last Scan.
func (c *Collector) Scan() []*schemas.TelemetryEvent {
	c.scans.Add(1)
	now := c.cfg.Now().UTC()
	cur := map[string]Socket{}
	need := map[uint64]bool{}
	// The kernel's TCP open counter is read before the tables: a socket opened in between is
	// then reported before it is counted, which the cumulative balance below absorbs.
	kernel, snmpErr := uint64(0), error(nil)
	if *c.cfg.OpenCounts {
		kernel, snmpErr = tcpOpens(filepath.Join(c.cfg.ProcRoot, "net", "snmp"))
	}
	var tw []Socket
	for _, proto := range c.cfg.Protocols {
		socks, err := c.table(proto)
		if err != nil {
			continue // e.g. no IPv6 in this kernel
		}
		for _, s := range socks {
			if *c.cfg.ShortLived && isTCP(proto) && s.State == tcpTimeWait {
				tw = append(tw, s)
			}
			if !s.Listening() && !s.Active() {
				continue
			}
			k := key(s)
			cur[k] = s
			if _, ok := c.known[k]; !ok && s.Inode != 0 {
				if _, ok := c.inode[s.Inode]; !ok {
					need[s.Inode] = true
				}
			}
		}
	}
	if len(need) > 0 {
		c.scanFDs(need)
	}
	initial := c.first
	c.first = false
	var evs []*schemas.TelemetryEvent
	var seen uint64 // TCP sockets reported opened by this read
	// A TIME_WAIT socket new since the last read whose connection was not tracked live then:
	// it opened and closed in between.
	if *c.cfg.ShortLived {
		live := make(map[string]bool, len(c.known))
		for _, t := range c.known {
			if !t.listener && isTCP(t.sock.Proto) {
				live[tuple(t.sock)] = true
			}
		}
		nextTW := make(map[string]bool, len(tw))
		for _, s := range tw {
			k := tuple(s)
			nextTW[k] = true
			if initial || c.tw[k] || live[k] {
				continue
			}
			t := &tracked{sock: s}
			for _, action := range []string{"opened", "closed"} {
				ev := c.event(t, action, now)
				ev.Labels = map[string]string{LabelSeenBy: SeenByTimeWait}
				evs = append(evs, ev)
			}
			c.opened.Add(1)
			c.closed.Add(1)
			c.shortLived.Add(1)
			seen++
		}
		c.tw = nextTW
	}
	for k, s := range cur {
		if _, ok := c.known[k]; ok {
			continue
		}
		t := &tracked{sock: s, listener: s.Listening(), owner: c.inode[s.Inode]}
		c.known[k] = t
		if initial && !*c.cfg.EmitInitial {
			continue
		}
		ev := c.event(t, "opened", now)
		if initial {
			ev.Labels = map[string]string{LabelSeenBy: "initial"}
		} else if !t.listener && isTCP(s.Proto) {
			seen++
		}
		evs = append(evs, ev)
		c.opened.Add(1)
	}
	for k, t := range c.known {
		if _, ok := cur[k]; ok {
			continue
		}
		delete(c.known, k)
		evs = append(evs, c.event(t, "closed", now))
		c.closed.Add(1)
	}
	sort.SliceStable(evs, func(i, j int) bool { // deterministic order within one scan
		a, b := evs[i].Conn, evs[j].Conn
		if a.Action != b.Action {
			return a.Action > b.Action // opened before closed
		}
		return a.LocalPort < b.LocalPort || a.LocalPort == b.LocalPort && a.RemotePort < b.RemotePort
	})
	if *c.cfg.OpenCounts && snmpErr == nil {
		evs = append(evs, c.openCounts(kernel, seen, initial, now)...)
	}
	return evs
}

// openCounts keeps the cumulative balance of TCP opens (kernel vs reported) and returns the
// tcp.opened and tcp.opened_unseen metrics of this read (none at the first read: no baseline).
func (c *Collector) openCounts(kernel, seen uint64, initial bool, now time.Time) []*schemas.TelemetryEvent {
	if initial || !c.snmpOK || kernel < c.snmpBase {
		// First read, or the counter went back (a new network namespace): a new baseline.
		c.snmpOK, c.snmpBase, c.kernelOpens, c.seenOpens, c.unseenOut = true, kernel, 0, 0, 0
		return nil
	}
	delta := kernel - c.snmpBase - c.kernelOpens
	c.kernelOpens += delta
	c.seenOpens += seen
	var unseen uint64
	if c.kernelOpens > c.seenOpens+c.unseenOut {
		unseen = c.kernelOpens - c.seenOpens - c.unseenOut
	}
	c.unseenOut += unseen
	c.tcpOpened.Add(delta)
	c.tcpUnseen.Add(unseen)
	mk := func(name string, v uint64) *schemas.TelemetryEvent {
		return &schemas.TelemetryEvent{SchemaVersion: schemas.TelemetryVersion, Kind: schemas.KindHostMetric, Time: now,
			Host: c.cfg.Host, Source: Source, Metric: &schemas.Metric{Name: name, Value: float64(v), Unit: "count"}}
	}
	return []*schemas.TelemetryEvent{mk(MetricTCPOpened, delta), mk(MetricTCPOpenedUnseen, unseen)}
}

func (c *Collector) event(t *tracked, action string, now time.Time) *schemas.TelemetryEvent {
	kind := schemas.KindConnection
	if t.listener {
		kind = schemas.KindListener
	}
	s := t.sock
	conn := &schemas.Connection{
		Action: action, Proto: s.Proto,
		LocalAddr: s.Local.Addr().String(), LocalPort: s.Local.Port(),
		State: s.StateName(), PID: t.owner.pid, Process: t.owner.name, Exe: t.owner.exe, UID: s.UID,
	}
	if !t.listener {
		conn.RemoteAddr, conn.RemotePort = s.Remote.Addr().String(), s.Remote.Port()
	}
	return &schemas.TelemetryEvent{SchemaVersion: schemas.TelemetryVersion, Kind: kind, Time: now,
		Host: c.cfg.Host, Source: Source, Conn: conn}
}

// scanFDs rebuilds the socket inode → owning process map from /proc/PID/fd. It first reads only
// the fds it has not seen before (readlink per fd is the cost); when that leaves an inode of
// need unresolved (an fd number reused for a new socket), it reads every fd again.
func (c *Collector) scanFDs(need map[uint64]bool) {
	c.fdScans.Add(1)
	c.readFDs(true)
	for ino := range need {
		if _, ok := c.inode[ino]; !ok {
			c.fullScans.Add(1)
			c.readFDs(false)
			return
		}
	}
}

func (c *Collector) readFDs(incremental bool) {
	ents, err := os.ReadDir(c.cfg.ProcRoot)
	if err != nil {
		return
	}
	m := map[uint64]owner{}
	fds := make(map[int32]map[string]uint64, len(c.fds))
	owners := make(map[int32]owner, len(c.owners))
	for _, e := range ents {
		pid64, err := strconv.ParseInt(e.Name(), 10, 32)
		if err != nil {
			continue
		}
		pid := int32(pid64)
		dir := filepath.Join(c.cfg.ProcRoot, e.Name(), "fd")
		f, err := os.Open(dir)
		if err != nil {
			continue
		}
		names, _ := f.Readdirnames(-1)
		_ = f.Close()
		prev := c.fds[pid]
		cur := make(map[string]uint64, len(names))
		fresh := false
		for _, n := range names {
			if ino, ok := prev[n]; ok && incremental {
				cur[n] = ino
				continue
			}
			var ino uint64
			if l, err := os.Readlink(filepath.Join(dir, n)); err == nil {
				if i, ok := socketInode(l); ok {
					ino, fresh = i, true
				}
			}
			cur[n] = ino
		}
		fds[pid] = cur
		has := false
		for _, ino := range cur {
			has = has || ino != 0
		}
		if !has {
			continue
		}
		o, known := c.owners[pid]
		if !known || fresh {
			o = owner{pid: pid}
			if b, err := os.ReadFile(filepath.Join(c.cfg.ProcRoot, e.Name(), "comm")); err == nil {
				o.name = strings.TrimSpace(string(b))
			}
			if exe, err := os.Readlink(filepath.Join(c.cfg.ProcRoot, e.Name(), "exe")); err == nil {
				o.exe = strings.TrimSuffix(exe, " (deleted)")
			}
		}
		for _, ino := range cur {
			if _, dup := m[ino]; ino != 0 && !dup { // shared after fork: the first owner found names it
				m[ino] = o
			}
		}
		owners[pid] = o
	}
	c.inode, c.fds, c.owners = m, fds, owners
}

// socketInode parses "socket:[12345]".
func socketInode(link string) (uint64, bool) {
	s, ok := strings.CutPrefix(link, "socket:[")
	if !ok || !strings.HasSuffix(s, "]") {
		return 0, false
	}
	n, err := strconv.ParseUint(s[:len(s)-1], 10, 64)
	return n, err == nil
}
