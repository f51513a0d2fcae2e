package process

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amoskys/amoskys/processors/normalise"
	"github.com/amoskys/amoskys/schemas"
)

// Source is the TelemetryEvent.Source of this collector's events.
const Source = "process"

// Label keys and values on emitted events.
const (
	LabelSeenBy        = "seen_by" // connector | snapshot | initial
	LabelSignal        = "signal"  // process_exit killed by a signal
	LabelDetails       = "details" // "partial" when /proc had gone, or showed a later exec, when read: name "?", no exe
	SeenByConnector    = "connector"
	SeenBySnapshot     = "snapshot"
	SeenByInitial      = "initial"
	recentForConnector = time.Second // the connector may still be delivering events this young
)

var timeNow = time.Now

// Stats counts what a Collector did. All fields are totals since Start.
type Stats struct {
	ConnectorEvents uint64 // fork/exec/exit/uid events decoded from the connector
	Execs           uint64 // process_exec emitted
	Exits           uint64 // process_exit emitted
	Samples         uint64 // process_sample emitted
	MissedExecs     uint64 // processes the connector did not report, found by a snapshot
	MissedExits     uint64 // exits the connector did not report, found by a snapshot
	Overruns        uint64 // connector receive-buffer overruns (events lost, reconciled later)
	ReplacedExecs   uint64 // execs emitted partial: /proc already showed a later exec's image
	Dropped         uint64 // events dropped because the consumer lagged past QueueLimit
	ReadErrors      uint64 // /proc reads that failed (the process had usually gone)
	Snapshots       uint64 // snapshots taken
}

// proc is one known process in the cache.
type proc struct {
	pid, ppid      int32
	start          time.Time
	name, exe, cmd string
	uid, euid      uint32
	exited         bool
	forkOnly       bool      // known from a fork event only: name and exe are the parent's
	exitAt         time.Time // wall time the exit was noticed
	updated        time.Time // wall time of the last connector update
	cpuTicks       uint64
	sampledAt      time.Time
	sampled        bool
}

// Collector watches processes and emits TelemetryEvents in batches. See the package doc.
type Collector struct {
	cfg Config
	fs  *procfs

	mu    sync.Mutex
	cache map[int32]*proc

	pmu     sync.Mutex
	pending []*schemas.TelemetryEvent
	kick    chan struct{}

	out           chan []*schemas.TelemetryEvent
	conn          *connector
	connErr       error
	monoToUTC     atomic.Int64 // wall minus CLOCK_MONOTONIC, refreshed every snapshot (NTP steps)
	bootMinusMono atomic.Int64 // CLOCK_BOOTTIME minus CLOCK_MONOTONIC: time suspended
	started       atomic.Bool

	// ahead holds connector events received but not yet handled (read ahead to learn whether a
	// process exec'd again while its previous exec's /proc was read). Reader goroutine only.
	ahead []cnEvent

	snap snapState // buffers reused by every snapshot, under snapMu
	// snapMu serialises snapshots (the loop, SnapshotOnce) over snap.
	snapMu sync.Mutex

	st struct {
		connector, execs, exits, samples, missedExecs, missedExits, overruns, dropped, readErrors, snapshots, replaced atomic.Uint64
	}
}

// ErrNoProcfs says the collector cannot work here: it needs Linux's /proc.
var ErrNoProcfs = errors.New("process collector needs a Linux /proc")

// NewCollector checks cfg and prepares a Collector; Start begins collecting.
func NewCollector(cfg Config) (*Collector, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.Host == "" {
		cfg.Host = normalise.HostID()
	}
	fs, err := newProcfs(cfg.ProcRoot, cfg.CmdlineMax)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoProcfs, err)
	}
	return &Collector{
		cfg:   cfg,
		fs:    fs,
		cache: map[int32]*proc{},
		kick:  make(chan struct{}, 1),
		out:   make(chan []*schemas.TelemetryEvent, 16),
	}, nil
}

// Events returns the channel of event batches; it is closed once the context given to Start is
// done and every goroutine has stopped.
func (c *Collector) Events() <-chan []*schemas.TelemetryEvent { return c.out }

// UsingConnector reports whether the kernel process connector is feeding events, and if not why.
func (c *Collector) UsingConnector() (bool, error) { return c.conn != nil, c.connErr }

// Stats returns the counters so far.
func (c *Collector) Stats() Stats {
	return Stats{
		ConnectorEvents: c.st.connector.Load(), Execs: c.st.execs.Load(), Exits: c.st.exits.Load(),
		Samples: c.st.samples.Load(), MissedExecs: c.st.missedExecs.Load(), MissedExits: c.st.missedExits.Load(),
		Overruns: c.st.overruns.Load(), ReplacedExecs: c.st.replaced.Load(), Dropped: c.st.dropped.Load(), ReadErrors: c.st.readErrors.Load(),
		Snapshots: c.st.snapshots.Load(),
	}
}

// Start opens the connector (per UseConnector), takes the initial snapshot and starts the
// goroutines. It returns once the collector is watching: processes started after it returns are
// seen. It may be called once.
func (c *Collector) Start(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("process collector already started")
	}
	if c.cfg.UseConnector != ConnectorOff {
		c.conn, c.connErr = openConnector()
		if c.connErr != nil && c.cfg.UseConnector == ConnectorOn {
			return c.connErr
		}
		c.monoToUTC.Store(monotonicOffset())
		c.bootMinusMono.Store(suspendedNS())
	}
	// Subscribe before the initial scan so nothing falls between the two.
	c.snapshot(ctx, true)

	var wg sync.WaitGroup
	if c.conn != nil {
		wg.Add(1)
		go func() { defer wg.Done(); c.readConnector(ctx) }()
	}
	wg.Add(2)
	go func() { defer wg.Done(); c.snapshotLoop(ctx) }()
	go func() { defer wg.Done(); c.flushLoop(ctx) }()
	go func() { wg.Wait(); close(c.out) }()
	return nil
}

func (c *Collector) readConnector(ctx context.Context) {
	defer c.conn.close()
	for ctx.Err() == nil {
		if len(c.ahead) == 0 {
			evs, err := c.conn.recv()
			c.recvErr(err)
			c.ahead = append(c.ahead[:0], evs...)
			continue
		}
		ev := c.ahead[0]
		c.ahead = c.ahead[1:]
		c.st.connector.Add(1)
		c.handle(&ev)
	}
}

func (c *Collector) recvErr(err error) {
	switch {
	case err == nil, errors.Is(err, errTimeout):
	case errors.Is(err, errOverrun):
		c.st.overruns.Add(1)
	default:
		c.st.readErrors.Add(1)
	}
}

var errDying = errors.New("process exiting: /proc details are gone")

// dying says /proc showed a process already exited: a zombie or a task being reaped, whose exe
// and cmdline are gone and whose parent reads 0 (not the real one) once it is no longer alive, or
// one past releasing its address space (PF_EXITING, no mm). Under load the connector's exec is
// often handled that late.
func dying(pid int32, d *details) bool {
	return d.stat.State == 'Z' || d.stat.State == 'X' || d.stat.PPID == 0 && pid > 2 ||
		d.mm.known() && d.mm.Flags&pfExiting != 0
}

// execLoadLead bounds how long before its connector event an exec replaces the image /proc
// shows (the end of the binary's loading: mapping segments and the interpreter). It is only a
// fallback where the address-space layout cannot be read (see mmInfo): under load the real lead
// is often longer.
const execLoadLead = 5 * time.Millisecond

// maxReadAhead bounds the datagrams read ahead for one exec.
const maxReadAhead = 1024

// replacedDuring says whether the /proc details d, read for the exec event ev up to monotonic
// time readEnd, may show a later image: the pid exec'd again (a shell exec'ing its last command
// in place) before or while it was read. The kernel sends an exec's event only once the new
// image is loaded, while /proc shows the new exe (and soon comm) from the start of the load, so a
// later exec can be under way, unannounced, when this one's /proc is read. The evidence:
//
//   - the address-space layout read with d (mmInfo) is a new one still being loaded: a later
//     exec had begun before the read (this exec's own load was over: its event came);
//   - a stat read now shows a layout being loaded, or another layout than d's: an exec happened
//     during the read, whose files may mix both images;
//   - a later exec of the pid is queued with a timestamp before readEnd plus the load lead: it
//     had finished before the read (the queue is drained without waiting first, so every event
//     the kernel has sent by now is looked at).
//
// None of these sees a later exec past its load (layout complete) whose event the kernel has not
// sent yet when the read begins: the few instructions between the loader's last store and the
// event. Where the layout cannot be read (not root), a comm change during the read makes it wait
// for the exec event until readEnd plus the lead, so a rename (prctl) is not taken for an exec;
// with the layout known, a comm change alone is a rename.
func (c *Collector) replacedDuring(ev *cnEvent, d *details, readEnd int64) bool {
	if d.mm.midExec() {
		return true
	}
	st, mm, err := c.fs.statMM(ev.TGID)
	layouts := err == nil && d.mm.known() && mm.known()
	if layouts && mm.Flags&pfExiting == 0 && (mm.midExec() || mm.layout != d.mm.layout) {
		return true
	}
	changed := err == nil && !layouts && st.Comm != d.stat.Comm
	deadline := readEnd + int64(execLoadLead)
	for {
		if c.conn != nil {
			// Bounded: under a fork storm the queue refills as fast as it is read.
			for range maxReadAhead {
				evs, err := c.conn.recvQueued()
				c.recvErr(err)
				c.ahead = append(c.ahead, evs...)
				if err != nil && !errors.Is(err, errOverrun) {
					break
				}
			}
		}
		for i := range c.ahead {
			a := &c.ahead[i]
			if a.What == procEventExec && a.TGID == ev.TGID && a.TimestampNS > ev.TimestampNS &&
				int64(a.TimestampNS) < deadline {
				return true
			}
		}
		if !changed || monoNow() > deadline {
			return false
		}
		time.Sleep(time.Millisecond / 2)
	}
}

// startFromTimestamp turns a connector timestamp (CLOCK_MONOTONIC) into a start time in the frame
// /proc uses (btime + ticks since boot), so identities from the fork and from /proc agree within a
// tick whatever btime's rounding: no wall clock is involved.
func (c *Collector) startFromTimestamp(ns uint64) time.Time {
	since := time.Duration(int64(ns) + c.bootMinusMono.Load())
	return c.fs.bootTime.Add(since.Truncate(time.Second / clkTck))
}

func (c *Collector) eventTime(ns uint64) time.Time {
	off := c.monoToUTC.Load()
	if ns == 0 || off == 0 {
		return c.cfg.Now().UTC()
	}
	return time.Unix(0, off+int64(ns)).UTC()
}

// handle applies one connector event to the cache and emits what it means.
func (c *Collector) handle(ev *cnEvent) {
	now := timeNow()
	switch ev.What {
	case procEventFork:
		if ev.PID != ev.TGID { // a new thread, not a new process
			return
		}
		// The fork's own timestamp, in clock ticks like /proc's start time (no read per fork: the
		// exec read or the next snapshot replaces it with /proc's value).
		start := c.startFromTimestamp(ev.TimestampNS)
		c.mu.Lock()
		child := &proc{pid: ev.TGID, ppid: ev.PTGID, start: start, updated: now, forkOnly: true}
		if p := c.cache[ev.PTGID]; p != nil {
			child.name, child.exe, child.cmd, child.uid, child.euid = p.name, p.exe, p.cmd, p.uid, p.euid
		}
		c.cache[ev.TGID] = child
		c.mu.Unlock()
	case procEventExec:
		d, err := c.fs.read(ev.TGID, true)
		var replaced *details
		if err == nil && dying(ev.TGID, d) {
			d, err = nil, errDying
		}
		if err != nil {
			c.st.readErrors.Add(1)
		} else if c.replacedDuring(ev, d, monoNow()) {
			// /proc shows (part of) the next image: emit this exec with what is known rather than
			// with the next image's details, which would make it a copy of the next exec. Parent
			// and start time survive an exec, so the read still tells them.
			replaced, d = d, nil
			c.st.replaced.Add(1)
		}
		c.mu.Lock()
		e := c.cache[ev.TGID]
		if e == nil {
			e = &proc{pid: ev.TGID, start: c.startFromTimestamp(ev.TimestampNS)} // an upper bound: /proc says better
			c.cache[ev.TGID] = e
		}
		if replaced != nil {
			e.ppid, e.start = replaced.stat.PPID, replaced.StartTime
		}
		e.updated, e.exited, e.forkOnly = now, false, false
		te := c.execEvent(e, d, c.eventTime(ev.TimestampNS), SeenByConnector)
		c.mu.Unlock()
		c.emit(te)
		c.st.execs.Add(1)
	case procEventUID:
		c.mu.Lock()
		if e := c.cache[ev.TGID]; e != nil {
			e.uid, e.euid, e.updated = ev.RUID, ev.EUID, now
		}
		c.mu.Unlock()
	case procEventExit:
		if ev.PID != ev.TGID {
			return
		}
		c.mu.Lock()
		e := c.cache[ev.TGID]
		if e == nil {
			e = &proc{pid: ev.TGID, ppid: ev.PTGID} // started before we watched: start unknown
			c.cache[ev.TGID] = e
		}
		if e.exited {
			c.mu.Unlock()
			return
		}
		e.exited, e.exitAt, e.updated = true, now, now
		code, sig := exitStatus(ev.ExitCode)
		te := c.exitEvent(e, c.eventTime(ev.TimestampNS), &code, SeenByConnector)
		if sig != 0 {
			te.Labels[LabelSignal] = strconv.Itoa(int(sig))
		}
		c.mu.Unlock()
		c.emit(te)
		c.st.exits.Add(1)
	}
}

func (c *Collector) newEvent(kind schemas.Kind, t time.Time, seenBy string) *schemas.TelemetryEvent {
	return &schemas.TelemetryEvent{
		SchemaVersion: schemas.TelemetryVersion, Kind: kind, Time: t.UTC(), Host: c.cfg.Host,
		Source: Source, Labels: map[string]string{LabelSeenBy: seenBy},
	}
}

// execEvent fills e from d (when /proc could be read) and builds the process_exec event with the
// ancestry. Caller holds c.mu.
func (c *Collector) execEvent(e *proc, d *details, t time.Time, seenBy string) *schemas.TelemetryEvent {
	te := c.newEvent(schemas.KindProcessExec, t, seenBy)
	p := &schemas.Process{PID: e.pid}
	if d != nil {
		e.ppid = d.stat.PPID
		e.start = d.StartTime
		e.name, e.exe, e.cmd = d.stat.Comm, d.Exe, d.Cmdline
		e.uid, e.euid = d.status.UIDs[0], d.status.UIDs[1]
		p.Exe, p.Cmdline, p.Cwd = d.Exe, d.Cmdline, d.Cwd
		p.ExeDeleted, p.ExeInWritableDir = d.ExeDeleted, d.ExeWritable
		p.UID, p.EUID, p.SUID = d.status.UIDs[0], d.status.UIDs[1], d.status.UIDs[2]
		p.GID, p.EGID, p.SGID = d.status.GIDs[0], d.status.GIDs[1], d.status.GIDs[2]
		p.User, p.TTY, p.Cgroup, p.ContainerID = d.User, d.TTY, d.Cgroup, d.ContainerID
		p.CapEff, p.SocketFDs, p.StdioSocket = d.status.CapEff, d.SocketFDs, d.StdioSocket
	} else {
		// Gone before /proc could be read: the new image is unknown (the fork copied the parent's
		// name, which would be wrong here); pid, parent, ancestry and the pre-exec uids remain.
		te.Labels[LabelDetails] = "partial"
		e.name, e.exe, e.cmd = "?", "", ""
		p.UID, p.EUID = e.uid, e.euid
	}
	p.PPID, p.StartTime, p.Name = e.ppid, e.start, e.name
	if p.Name == "" {
		p.Name = "?"
	}
	p.Ancestry = c.ancestry(e)
	te.Process = p
	return te
}

func (c *Collector) exitEvent(e *proc, t time.Time, code *int32, seenBy string) *schemas.TelemetryEvent {
	te := c.newEvent(schemas.KindProcessExit, t, seenBy)
	name := e.name
	if name == "" {
		name = "?"
	}
	te.Process = &schemas.Process{PID: e.pid, PPID: e.ppid, StartTime: e.start, Name: name, Exe: e.exe,
		Cmdline: e.cmd, UID: e.uid, EUID: e.euid, ExitCode: code}
	return te
}

// ancestry walks the parent chain from the cache, reading /proc for unknown ancestors, up to pid 1
// or the depth limit. A cached parent that started after its child is a reused pid: the chain
// stops there. Caller holds c.mu.
func (c *Collector) ancestry(e *proc) []schemas.Ancestor {
	var out []schemas.Ancestor
	child := e
	seen := map[int32]bool{e.pid: true}
	for ppid := e.ppid; ppid > 0 && len(out) < c.cfg.AncestryDepth && !seen[ppid]; {
		seen[ppid] = true
		a := c.cache[ppid]
		if a == nil {
			d, err := c.fs.read(ppid, false)
			if err != nil {
				out = append(out, schemas.Ancestor{PID: ppid, Name: "?"})
				break
			}
			a = &proc{pid: ppid, ppid: d.stat.PPID, start: d.StartTime, name: d.stat.Comm, exe: d.Exe,
				cmd: d.Cmdline, uid: d.status.UIDs[0], euid: d.status.UIDs[1]}
			c.cache[ppid] = a
		}
		if !a.start.IsZero() && !child.start.IsZero() && a.start.After(child.start.Add(startSlack)) {
			out = append(out, schemas.Ancestor{PID: ppid, Name: "?"})
			break
		}
		out = append(out, schemas.Ancestor{PID: a.pid, Name: a.name, Exe: a.exe, Cmdline: a.cmd, UID: a.uid, EUID: a.euid})
		child, ppid = a, a.ppid
	}
	return out
}

func (c *Collector) emit(evs ...*schemas.TelemetryEvent) {
	c.pmu.Lock()
	for _, ev := range evs {
		if len(c.pending) >= c.cfg.QueueLimit {
			c.st.dropped.Add(1)
			continue
		}
		c.pending = append(c.pending, ev)
	}
	full := len(c.pending) >= c.cfg.MaxBatch
	c.pmu.Unlock()
	if full {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

func (c *Collector) flushLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
		for {
			c.pmu.Lock()
			n := min(len(c.pending), c.cfg.MaxBatch)
			if n == 0 {
				c.pmu.Unlock()
				break
			}
			batch := make([]*schemas.TelemetryEvent, n)
			copy(batch, c.pending)
			c.pending = append(c.pending[:0], c.pending[n:]...)
			c.pmu.Unlock()
			select {
			case c.out <- batch:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (c *Collector) snapshotLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if c.conn != nil {
				c.monoToUTC.Store(monotonicOffset())
				c.bootMinusMono.Store(suspendedNS())
			}
			c.snapshot(ctx, false)
		}
	}
}

// startSlack is how far a start time from a fork timestamp and one from /proc may differ.
const startSlack = 50 * time.Millisecond

// sameStart says two start times name the same process: /proc's tick value and the connector's
// timestamp of the fork differ by at most a tick or two.
func sameStart(a, b time.Time) bool {
	d := a.Sub(b)
	return d > -startSlack && d < startSlack
}

// sampleCand is a copy of what a sample needs from its proc, taken under c.mu: samples are built
// after the lock is released, while exec handling may rewrite the proc.
type sampleCand struct {
	pid       int32
	exe       string
	uid, euid uint32
	st        statInfo
	cpu       float64
}

// SnapshotOnce takes one snapshot now (reconciliation and samples, as every Interval does) and
// returns how many processes it read; for benchmarks and tools. Events go to Events as usual.
func (c *Collector) SnapshotOnce(ctx context.Context) int {
	return c.snapshot(ctx, false)
}

// snapshot lists processes (gopsutil), reconciles the cache with them and emits samples.
func (c *Collector) snapshot(ctx context.Context, initial bool) int {
	c.snapMu.Lock()
	defer c.snapMu.Unlock()
	c.st.snapshots.Add(1)
	sn := &c.snap
	pids, err := listPids(c.fs.root, sn.dents(), sn.pids[:0])
	sn.pids = pids
	if err != nil {
		c.st.readErrors.Add(1)
		return 0
	}
	wall := timeNow()
	evTime := c.cfg.Now().UTC()
	live := sn.liveMap(len(pids))
	for _, pid := range pids {
		if st, err := sn.stat(c.fs.root, pid); err == nil {
			live[pid] = st
		}
	}
	connOn := c.conn != nil
	var evs []*schemas.TelemetryEvent
	var cands []sampleCand

	c.mu.Lock()
	for pid, st := range live {
		start := c.fs.startTime(st.StartTicks)
		e := c.cache[pid]
		if e != nil && sameStart(e.start, start) {
			e.start = start // /proc's value is the identity
		}
		if e != nil && !e.exited && !e.start.Equal(start) && wall.Sub(e.updated) > recentForConnector {
			// The pid was reused behind the connector's back: the old process ended unseen.
			e.exited, e.exitAt = true, wall
			evs = append(evs, c.exitEvent(e, evTime, nil, SeenBySnapshot))
			c.st.missedExits.Add(1)
			c.st.exits.Add(1)
			e = nil
		}
		if e == nil || e.exited && !sameStart(e.start, start) {
			if connOn && !initial && wall.Sub(start) < recentForConnector {
				continue // the connector is probably about to tell us
			}
			d, err := c.fs.read(pid, initial == false || c.cfg.EmitInitial)
			if err != nil {
				continue
			}
			e = &proc{pid: pid}
			c.cache[pid] = e
			seen := SeenBySnapshot
			if initial {
				seen = SeenByInitial
			}
			te := c.execEvent(e, d, evTime, seen)
			if !initial {
				c.st.missedExecs.Add(1)
			}
			if !initial || c.cfg.EmitInitial {
				evs = append(evs, te)
				c.st.execs.Add(1)
			}
		} else if e.exited {
			continue // exit already reported; /proc still shows the zombie
		} else if e.forkOnly && (!connOn || wall.Sub(e.updated) > recentForConnector) {
			// Known from its fork only, yet running another binary than its parent's: its exec
			// event was lost (a connector overrun under load). Report the exec now.
			if exe, err := c.fs.exe(pid); err == nil && e.exe != "" && exe != e.exe {
				if d, err := c.fs.read(pid, true); err == nil {
					e.forkOnly = false
					evs = append(evs, c.execEvent(e, d, evTime, SeenBySnapshot))
					c.st.missedExecs.Add(1)
					c.st.execs.Add(1)
				}
			}
		}
		e.ppid = st.PPID // reparenting after a parent's death
		if e.name == "" || e.name != st.Comm {
			e.name = st.Comm
		}
		ticks := st.UTime + st.STime
		if e.sampled && ticks >= e.cpuTicks {
			el := wall.Sub(e.sampledAt).Seconds()
			cpu := 0.0
			if el > 0 {
				cpu = float64(ticks-e.cpuTicks) / clkTck / el * 100
			}
			cands = append(cands, sampleCand{pid: e.pid, exe: e.exe, uid: e.uid, euid: e.euid, st: st, cpu: cpu})
		}
		e.cpuTicks, e.sampledAt, e.sampled = ticks, wall, true
	}
	for pid, e := range c.cache {
		if e.exited {
			if wall.Sub(e.exitAt) > c.cfg.ExitGrace {
				delete(c.cache, pid)
			}
			continue
		}
		if _, ok := live[pid]; ok {
			continue
		}
		if connOn && wall.Sub(e.updated) < recentForConnector {
			continue
		}
		e.exited, e.exitAt = true, wall
		if !initial {
			evs = append(evs, c.exitEvent(e, evTime, nil, SeenBySnapshot))
			c.st.missedExits.Add(1)
			c.st.exits.Add(1)
		}
	}
	c.mu.Unlock()

	if !initial {
		evs = append(evs, c.samples(ctx, cands, evTime)...)
	}
	if len(evs) > 0 {
		c.emit(evs...)
	}
	return len(live)
}

// samples builds process_sample events for the top N candidates by CPU (all when N is 0).
func (c *Collector) samples(ctx context.Context, cands []sampleCand, t time.Time) []*schemas.TelemetryEvent {
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].cpu != cands[j].cpu {
			return cands[i].cpu > cands[j].cpu
		}
		return cands[i].pid < cands[j].pid
	})
	if n := c.cfg.SampleTopN; n > 0 && len(cands) > n {
		cands = cands[:n]
	}
	out := make([]*schemas.TelemetryEvent, 0, len(cands))
	for _, s := range cands {
		te := c.newEvent(schemas.KindProcessSample, t, SeenBySnapshot)
		p := &schemas.Process{PID: s.pid, PPID: s.st.PPID, StartTime: c.fs.startTime(s.st.StartTicks),
			Name: s.st.Comm, Exe: s.exe, UID: s.uid, EUID: s.euid,
			CPUPercent: s.cpu, Threads: s.st.Threads}
		if p.Name == "" {
			p.Name = "?"
		}
		if s.st.RSSPages > 0 {
			p.RSSBytes = uint64(s.st.RSSPages) * uint64(pageSize)
		}
		if n, err := fdCount(c.snap.path(c.fs.root, s.pid, "fd"), c.snap.dents()); err == nil {
			p.FDs = n
		}
		if b, err := readInto(c.snap.path(c.fs.root, s.pid, "io"), c.snap.buf); err == nil {
			c.snap.buf = b
			p.ReadBytes, p.WriteBytes = parseIO(b)
		}
		te.Process = p
		out = append(out, te)
	}
	c.st.samples.Add(uint64(len(out)))
	return out
}
