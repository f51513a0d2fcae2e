// Package window is the window stage: event-time tumbling and sliding windows keyed by host,
// process identity, interface and device; aggregates, distinct and first-seen counts, online
// per-key normalisation, flags; it emits FeatureVectors when windows close. The logic here is
// plain Go; plugin.go adapts it to Benthos as the `window` processor.
package window

import (
	"cmp"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/amoskys/amoskys/schemas"
)

// Spec is one window: Size long, a new one every Slide (Slide == Size: tumbling), computed
// for the key kinds in Kinds (empty: every kind).
type Spec struct {
	Size, Slide time.Duration
	Kinds       []string
}

func (s Spec) covers(kind string) bool {
	if len(s.Kinds) == 0 {
		return true
	}
	for _, k := range s.Kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// Name is the window's label in FeatureVector.Window: its length, "1m", "5m", "1h" (the schema's
// "window length"); a sliding window's vectors are told apart by their Start.
func (s Spec) Name() string { return durName(s.Size) }

func durName(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d%time.Second == 0:
		return strconv.Itoa(int(d/time.Second)) + "s"
	}
	return d.String()
}

// Normalisers.
const (
	NormRobust = "robust" // logistic of the robust z-score (v - median) / (IQR / 1.349): 0.5 at the median
	NormMinMax = "minmax" // (v - min) / (max - min) over the key's history
)

// Config of a Window.
type Config struct {
	Windows         []Spec
	AllowedLateness time.Duration // events older than the watermark minus this are late
	MaxKeys         int           // most keys held over all hosts; events of new keys beyond it are not aggregated
	KeyIdle         time.Duration // a key with no open window and no event for this long (event time) is forgotten
	MaxSeen         int           // most first-seen values remembered per host and kind (exes, remotes, listeners)
	Normalise       string        // robust | minmax
	History         int           // window values kept per key and feature for normalisation
	SpikeZ          float64       // robust |z| at or above this flags a spike
	MinHistory      int           // history needed before spikes are flagged
	MaxEventIDs     int           // event ids sampled per vector
	KeyKinds        []string      // key kinds to emit (all by default)
}

// DefaultConfig: 1 minute tumbling for every key kind; 5 minutes sliding by 1 minute for hosts,
// interfaces and devices; 1 hour sliding by 5 minutes for hosts and devices. (A process seen once
// would otherwise yield 18 vectors; process features are short-term.)
func DefaultConfig() Config {
	return Config{
		Windows: []Spec{
			{time.Minute, time.Minute, nil},
			{5 * time.Minute, time.Minute, []string{KindHost, KindInterface, KindDevice}},
			{time.Hour, 5 * time.Minute, []string{KindHost, KindDevice}},
		},
		AllowedLateness: 10 * time.Second, MaxKeys: 100000, KeyIdle: 2 * time.Hour, MaxSeen: 100000,
		Normalise: NormRobust, History: 64, SpikeZ: 6, MinHistory: 8, MaxEventIDs: 16,
		KeyKinds: []string{KindHost, KindProcess, KindInterface, KindDevice},
	}
}

// Validate checks a config.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Windows) == 0 {
		errs = append(errs, errors.New("windows: at least one window"))
	}
	for i, w := range c.Windows {
		if w.Size <= 0 || w.Slide <= 0 || w.Slide > w.Size || w.Size%w.Slide != 0 {
			errs = append(errs, fmt.Errorf("windows[%d]: size %v and slide %v: need 0 < slide <= size and size a multiple of slide", i, w.Size, w.Slide))
		}
		for _, k := range w.Kinds {
			if FeatureNames(k) == nil {
				errs = append(errs, fmt.Errorf("windows[%d].key_kinds: unknown kind %q", i, k))
			}
		}
	}
	if c.AllowedLateness < 0 {
		errs = append(errs, errors.New("allowed_lateness: must not be negative"))
	}
	if c.Normalise != NormRobust && c.Normalise != NormMinMax {
		errs = append(errs, fmt.Errorf("normalise: %q is not robust or minmax", c.Normalise))
	}
	if c.MaxKeys <= 0 || c.History <= 0 || c.MaxSeen <= 0 {
		errs = append(errs, errors.New("max_keys, history and max_seen must be positive"))
	}
	for _, k := range c.KeyKinds {
		if FeatureNames(k) == nil {
			errs = append(errs, fmt.Errorf("key_kinds: unknown kind %q", k))
		}
	}
	return errors.Join(errs...)
}

// Stats counts what the window stage did.
type Stats struct {
	Events, Late, Invalid, KeysDropped, Vectors int64
	Keys                                        int
}

// feature index tables per kind.
var featIdx = func() map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, k := range []string{KindHost, KindProcess, KindInterface, KindDevice} {
		m := map[string]int{}
		for i, n := range FeatureNames(k) {
			m[n] = i
		}
		out[k] = m
	}
	return out
}()

// fi is a feature's index in its kind's list, -1 when the kind has no such feature.
func fi(kind, name string) int {
	if i, ok := featIdx[kind][name]; ok {
		return i
	}
	return -1
}

// Indices of the features ingest names literally, resolved once.
var (
	fiDeviceDeviceEvents          = fi(KindDevice, "device_events")
	fiDeviceHrCpuLoad             = fi(KindDevice, "hr.cpu_load")
	fiDeviceHrSwRunCount          = fi(KindDevice, "hr.sw_run_count")
	fiDeviceIfOperUpCount         = fi(KindDevice, "if.oper_up_count")
	fiDeviceSamples               = fi(KindDevice, "samples")
	fiHostConnCloseCount          = fi(KindHost, "conn.close_count")
	fiHostConnDistinctRemoteCount = fi(KindHost, "conn.distinct_remote_count")
	fiHostConnNewRemoteCount      = fi(KindHost, "conn.new_remote_count")
	fiHostConnOpenCount           = fi(KindHost, "conn.open_count")
	fiHostEventsCount             = fi(KindHost, "events.count")
	fiHostListenerNewCount        = fi(KindHost, "listener.new_count")
	fiHostListenerOpenCount       = fi(KindHost, "listener.open_count")
	fiHostProcDistinctExeCount    = fi(KindHost, "proc.distinct_exe_count")
	fiHostProcDistinctUserCount   = fi(KindHost, "proc.distinct_user_count")
	fiHostProcExecCount           = fi(KindHost, "proc.exec_count")
	fiHostProcExecRate            = fi(KindHost, "proc.exec_rate")
	fiHostProcExitCount           = fi(KindHost, "proc.exit_count")
	fiHostProcNewExeCount         = fi(KindHost, "proc.new_exe_count")
	fiHostProcPrivEscCount        = fi(KindHost, "proc.priv_esc_count")
	fiHostSnmpDeviceCount         = fi(KindHost, "snmp.device_count")
	fiHostSnmpIfErrorsPerS        = fi(KindHost, "snmp.if_errors_per_s")
	fiHostSnmpIfInOctetsPerS      = fi(KindHost, "snmp.if_in_octets_per_s")
	fiHostSnmpIfOutOctetsPerS     = fi(KindHost, "snmp.if_out_octets_per_s")
	fiInterfaceSamples            = fi(KindInterface, "samples")
	fiProcessChildExecCount       = fi(KindProcess, "child_exec_count")
	fiProcessConnCount            = fi(KindProcess, "conn_count")
	fiProcessCpuPercent           = fi(KindProcess, "cpu_percent")
	fiProcessCpuPercentMax        = fi(KindProcess, "cpu_percent.max")
	fiProcessDistinctRemoteCount  = fi(KindProcess, "distinct_remote_count")
	fiProcessFds                  = fi(KindProcess, "fds")
	fiProcessListenerCount        = fi(KindProcess, "listener_count")
	fiProcessReadBytesPerS        = fi(KindProcess, "read_bytes_per_s")
	fiProcessRssBytes             = fi(KindProcess, "rss_bytes")
	fiProcessRssBytesMax          = fi(KindProcess, "rss_bytes.max")
	fiProcessSamples              = fi(KindProcess, "samples")
	fiProcessThreads              = fi(KindProcess, "threads")
	fiProcessWriteBytesPerS       = fi(KindProcess, "write_bytes_per_s")
)

func featureList(kind string) []Feature {
	switch kind {
	case KindHost:
		return HostFeatures
	case KindProcess:
		return ProcessFeatures
	case KindInterface:
		return InterfaceFeatures
	}
	return DeviceFeatures
}

var kindRank = map[string]int{KindHost: 0, KindProcess: 1, KindInterface: 2, KindDevice: 3}

// sharedNames are FeatureNames per kind rank, one slice shared by every vector of that kind:
// FeatureVector.Names is read-only to every stage (a copy per vector was an allocation each).
var sharedNames = func() [4][]string {
	var out [4][]string
	for kind, r := range kindRank {
		out[r] = FeatureNames(kind)
	}
	return out
}()

// perTimeIdx marks, per kind rank and feature index, the features whose value is sum / distinct
// sample times (sumPerTime).
var perTimeIdx = func() [4][]bool {
	var out [4][]bool
	for kind, r := range kindRank {
		for _, f := range featureList(kind) {
			out[r] = append(out[r], sumPerTime[kind+"/"+f.Name])
		}
	}
	return out
}()

// stat accumulates one feature over one pane.
type stat struct {
	n, sum, sumsq, min, max float64
	firstT, lastT           int64
	firstV, lastV           float64
	set                     *u64set // a distinct feature's values (64-bit hashes)
}

func (s *stat) add(v float64, t int64) {
	if s.n == 0 || v < s.min {
		s.min = v
	}
	if s.n == 0 || v > s.max {
		s.max = v
	}
	if s.n == 0 || t < s.firstT {
		s.firstT, s.firstV = t, v
	}
	if s.n == 0 || t >= s.lastT {
		s.lastT, s.lastV = t, v
	}
	s.n++
	s.sum += v
	s.sumsq += v * v
}

func (s *stat) addSet(x uint64) {
	if s.set == nil {
		s.set = &u64set{}
	}
	s.set.add(x)
}

// distinct is how many values s.set holds.
func (s *stat) distinct() int {
	if s.set == nil {
		return 0
	}
	return s.set.len()
}

// hash64 is FNV-1a: distinct counts keep 64-bit hashes, not the strings (a collision among the
// few thousand values of one window is vanishingly unlikely).
func hash64(x string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(x); i++ {
		h ^= uint64(x[i])
		h *= 1099511628211
	}
	return h
}

// pane is one key's accumulators over one slide-long interval.
type pane struct {
	stats  []stat
	flags  map[string]struct{}
	events []string
	// times holds, per feature, a per-time feature's distinct sample times, sorted (nil until
	// the pane's first per-time sample): times mostly come in order, so counting them is an
	// append, not a hash-set insert.
	times [][]int64
}

// addTime adds t to the sorted, duplicate-free ts.
func addTime(ts []int64, t int64) []int64 {
	if n := len(ts); n == 0 || t > ts[n-1] {
		return append(ts, t)
	}
	i, found := slices.BinarySearch(ts, t)
	if found {
		return ts
	}
	return slices.Insert(ts, i, t)
}

// perTimeAdd counts sample time t for the per-time feature i.
func (p *pane) perTimeAdd(i int, t int64) {
	if p.times == nil {
		p.times = make([][]int64, len(p.stats))
	}
	p.times[i] = addTime(p.times[i], t)
}

// ntimes is how many distinct sample times the per-time feature i has in p.
func (p *pane) ntimes(i int) int {
	if p.times == nil {
		return 0
	}
	return len(p.times[i])
}

// keyState is one key on one host.
type keyState struct {
	kind, key, entity string
	// specs holds the key's state for each window spec that covers its kind, in spec order
	// (Window.slot maps a spec to its place): a process key, covered by one of the default
	// three windows, carries one.
	specs    []specState
	lastSeen int64
	mark     int64 // hostState.gen when last collected by advance
	// int32 (with the bools after them): a process key with its specState fits 256 bytes
	rank             int32  // kindRank[kind]
	npanes           int32  // panes over all specs: 0 means the key has no open window
	pending, dropped bool   // idle but still with panes (in hostState.pending); removed from hostState.keys
	pid              procID // a process key's identity (its place in hostState.procKeys)
}

// specState is one key's state for one window spec.
type specState struct {
	panes  paneSet     // open panes
	last   lastPane    // the pane touched last (most events fall in it again)
	hist   [][]float64 // per feature: recent window values, oldest first
	sorted [][]float64 // the same values, sorted
	// one holds the values of the key's only vector so far (hist is then nil): most process
	// keys have one vector, and their history is one slice, not two per feature.
	one []float64
	// first backs panes' first entry (most process keys never have a second): panes starts as
	// first[:0:1], so a second pane moves the set out instead of writing past it.
	first [1]paneAt
	// head is, once the history is full (History values per feature), the index of the oldest
	// value in every feature's hist: a full hist is a ring, not shifted at each vector.
	head int
}

// spec is ks's state for window spec i (which must cover ks's kind).
func (w *Window) spec(ks *keyState, i int) *specState { return &ks.specs[w.slot[ks.rank][i]] }

// paneSet is one key's open panes of one spec: a handful (size/slide plus the lateness), so a
// small slice searched in order costs less than a map, and one allocation per key at most.
type paneSet []paneAt

type paneAt struct {
	start int64
	p     *pane
}

func (s paneSet) get(start int64) *pane {
	for i := range s {
		if s[i].start == start {
			return s[i].p
		}
	}
	return nil
}

// del removes the pane starting at start (order is not kept: readers never depend on it).
func (s *paneSet) del(start int64) {
	t := *s
	for i := range t {
		if t[i].start == start {
			last := len(t) - 1
			t[i] = t[last]
			t[last] = paneAt{}
			*s = t[:last]
			return
		}
	}
}

// slab hands out consecutive pieces of larger allocations, each piece once: the vectors of a
// window boundary cost a few allocations instead of a few per vector, and no piece is ever
// reused (vectors handed downstream own their memory). A piece is capped (three-index slice), so
// an append by its holder moves it out instead of into the next piece.
type slab[T any] struct{ free []T }

// take returns n zeroed elements; a new allocation holds max(n, chunk).
func (s *slab[T]) take(n, chunk int) []T {
	if n > len(s.free) {
		s.free = make([]T, max(n, chunk))
	}
	p := s.free[:n:n]
	s.free = s.free[n:]
	return p
}

// Slab chunk sizes, in elements: a few KB each, a boundary's vectors of one host or so.
const (
	vecChunk   = 32   // FeatureVectors
	floatChunk = 1024 // Values and Normalised
	strChunk   = 256  // EventIDs and Flags
	oneChunk   = 512  // keys' first values (keyState.one), held as long as the keys
)

// lastPane caches a key's most recently touched pane of one spec; p is nil when unset or when
// that pane has closed.
type lastPane struct {
	start int64
	p     *pane
}

// idleEntry is a key's place in hostState.idle: seen is its lastSeen when it was pushed, so an
// entry is stale once the key has seen a later event (it is then pushed again, lazily).
type idleEntry struct {
	seen int64
	ks   *keyState
}

// idleHeap is a min-heap of idleEntry by seen (then key, so that pops are deterministic).
type idleHeap []idleEntry

func (h idleHeap) less(a, b int) bool {
	if h[a].seen != h[b].seen {
		return h[a].seen < h[b].seen
	}
	return h[a].ks.key < h[b].ks.key
}

func (h *idleHeap) push(e idleEntry) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *idleHeap) pop() idleEntry {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s[n] = idleEntry{}
	s = s[:n]
	s.down(0)
	*h = s
	return top
}

// drop removes the entries of dropped keys and restores the heap order.
func (h *idleHeap) drop() {
	s := (*h)[:0]
	for _, e := range *h {
		if !e.ks.dropped {
			s = append(s, e)
		}
	}
	clear((*h)[len(s):])
	for i := len(s)/2 - 1; i >= 0; i-- {
		s.down(i)
	}
	*h = s
}

func (h idleHeap) down(i int) {
	s, n := h, len(h)
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && s.less(l, m) {
			m = l
		}
		if r < n && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
}

// hostState is everything known about one host.
type hostState struct {
	host    string
	wm      int64   // watermark: the latest event time seen
	closed  []int64 // per spec: windows ending at or before this are emitted
	started bool
	// ps is, per spec, the start of the pane holding time pst (the latest event's time): the
	// event's touches reuse it. nextClose: see setNextClose.
	ps             []int64
	pst, nextClose int64
	keys           map[string]*keyState // every key but the processes'
	procKeys       map[procID]*keyState // process keys
	seenExe        map[string]struct{}
	seenRem        map[string]struct{}
	seenLst        map[string]struct{}
	procs          map[int32]procInfo // pid -> the latest process with that pid
	// paneKeys indexes open panes, per spec: pane start -> the keys with a pane there, so that
	// advance visits only keys with open windows, never every key the host remembers.
	paneKeys []map[int64][]*keyState
	hostKey  *keyState   // the host's own key (every event touches it), nil until made or at the cap
	idle     idleHeap    // every key not pending nor dropped, by last event time (lazily updated)
	pending  []*keyState // keys idle for key_idle whose panes have not all closed yet
	gen      int64
	cl       []closing   // advance's scratch
	drop     []*keyState // advance's scratch
	kbuf     []byte      // key scratch (kb, procKey)
	free     [4][]*pane  // closed panes for reuse, by kind rank
	merged   []stat      // vector's scratch
	times    []int       // vector's scratch
	flags    []string    // vector's scratch
	idbuf    []byte      // vector's scratch
	// touch's results: the host key's panes for the whole event, every other key's until the
	// next touch of another key.
	hostPanes, keyPanes []*pane
	// Memory for the vectors (and the keys' first values), see slab; ids holds the hex ids of
	// one advance's vectors, made into one string at its end.
	vecs   slab[schemas.FeatureVector]
	floats slab[float64]
	strs   slab[string]
	ones   slab[float64]
	ids    []byte
	// paneKeys' key lists of closed panes, cleared, for the next pane starts.
	freeLists [][]*keyState
}

const nShards = 16

type shard struct {
	mu           sync.Mutex
	hosts        map[string]*hostState
	last         *hostState // the host of the shard's latest event (most shards hold one host)
	events, late int64      // counted under mu, which Add holds anyway (Window.mu would be one more lock per event)
}

// Window holds the state of every host. It is safe for concurrent use: hosts are sharded,
// each shard under its own lock, so the result for a host depends only on that host's events
// and their order.
type Window struct {
	cfg    Config
	emit   map[string]bool
	covers [][4]bool // per spec, per kind rank: Spec.covers
	// per spec: Spec.Name and durName(Slide), made once (each was an allocation per vector)
	names, slides []string
	// per kind rank: how many specs cover the kind, each covering spec's place in
	// keyState.specs (-1: the spec does not cover the kind), and the covering specs in order
	ncover  [4]int
	slot    [4][]int
	specsOf [4][]int
	shards  [nShards]shard
	mu      sync.Mutex // guards stats
	stats   Stats
	keys    int64
}

// New makes a Window.
func New(cfg Config) (*Window, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &Window{cfg: cfg, emit: map[string]bool{}}
	for _, k := range cfg.KeyKinds {
		w.emit[k] = true
	}
	w.covers = make([][4]bool, len(cfg.Windows))
	for i, s := range cfg.Windows {
		w.names = append(w.names, s.Name())
		w.slides = append(w.slides, durName(s.Slide))
		for k, r := range kindRank {
			w.covers[i][r] = s.covers(k)
			slot := -1
			if w.covers[i][r] {
				slot = w.ncover[r]
				w.ncover[r]++
				w.specsOf[r] = append(w.specsOf[r], i)
			}
			w.slot[r] = append(w.slot[r], slot)
		}
	}
	for i := range w.shards {
		w.shards[i].hosts = map[string]*hostState{}
	}
	return w, nil
}

// Stats returns the counters so far.
func (w *Window) Stats() Stats {
	w.mu.Lock()
	s := w.stats
	s.Keys = int(w.keys)
	w.mu.Unlock()
	for i := range w.shards {
		sh := &w.shards[i]
		sh.mu.Lock()
		s.Events += sh.events
		s.Late += sh.late
		sh.mu.Unlock()
	}
	return s
}

func (w *Window) shardOf(host string) *shard {
	h := uint32(2166136261) // FNV-1a, inline: no hasher to allocate per event
	for i := 0; i < len(host); i++ {
		h ^= uint32(host[i])
		h *= 16777619
	}
	return &w.shards[h%nShards]
}

// Add aggregates one event and returns the feature vectors of the windows its watermark
// closes, in a deterministic order.
func (w *Window) Add(ev *schemas.TelemetryEvent) []*schemas.FeatureVector {
	a := w.Adder()
	defer a.Release()
	return a.Add(ev)
}

// Adder adds a run of events (a batch), as Add does one by one, and holds the lock of its
// latest event's shard until an event of another shard or Release: the events of one host that
// come together take the lock once, not once each. It holds one lock at most, so Adders of
// several goroutines cannot deadlock; but while one holds a lock, Flush, End and Stats wait for
// it: Release first. An Adder is for one goroutine.
type Adder struct {
	w    *Window
	sh   *shard // locked, or nil
	host string // the latest event's host (its shard is sh)
}

// Adder returns an Adder of w holding no lock.
func (w *Window) Adder() Adder { return Adder{w: w} }

// Release unlocks the shard a holds, if any.
func (a *Adder) Release() {
	if a.sh != nil {
		a.sh.mu.Unlock()
		a.sh = nil
	}
}

// Add is Window.Add.
func (a *Adder) Add(ev *schemas.TelemetryEvent) []*schemas.FeatureVector {
	w := a.w
	if !plausibleTime(ev.Time) {
		w.mu.Lock()
		w.stats.Events++
		w.stats.Invalid++ // no usable event time: passed on, not aggregated
		w.mu.Unlock()
		return nil
	}
	if a.sh == nil || ev.Host != a.host {
		if sh := w.shardOf(ev.Host); sh != a.sh {
			a.Release()
			sh.mu.Lock()
			a.sh = sh
		}
		a.host = ev.Host
	}
	return w.add(a.sh, ev)
}

// add is Add with sh, ev's shard, locked.
func (w *Window) add(sh *shard, ev *schemas.TelemetryEvent) []*schemas.FeatureVector {
	hs := sh.last
	if hs == nil || hs.host != ev.Host {
		hs = sh.hosts[ev.Host]
	}
	if hs == nil {
		hs = &hostState{host: ev.Host, closed: make([]int64, len(w.cfg.Windows)), keys: map[string]*keyState{}, procKeys: map[procID]*keyState{},
			seenExe: map[string]struct{}{}, seenRem: map[string]struct{}{}, seenLst: map[string]struct{}{},
			procs: map[int32]procInfo{}, paneKeys: make([]map[int64][]*keyState, len(w.cfg.Windows))}
		for i := range hs.paneKeys {
			hs.paneKeys[i] = map[int64][]*keyState{}
		}
		sh.hosts[ev.Host] = hs
	}
	sh.last = hs
	t := ev.Time.UnixNano()
	if !hs.started {
		hs.started = true
		hs.wm = t
		hs.ps = make([]int64, len(w.cfg.Windows))
		for i, s := range w.cfg.Windows {
			hs.closed[i] = floorTo(t-int64(w.cfg.AllowedLateness), int64(s.Slide))
			hs.ps[i] = floorTo(t, int64(s.Slide))
		}
		w.setNextClose(hs)
	}
	late := false
	for i, s := range w.cfg.Windows {
		sl := int64(s.Slide)
		ps := hs.ps[i]
		if t < ps || t >= ps+sl { // most events fall in the pane of the one before: no division
			ps = floorTo(t, sl)
			hs.ps[i] = ps
		}
		if ps+sl <= hs.closed[i] {
			late = true
		}
	}
	hs.pst = t
	sh.events++
	if late {
		sh.late++
	}
	if !late {
		w.ingest(hs, ev, t)
	}
	var out []*schemas.FeatureVector
	if t > hs.wm {
		hs.wm = t
		out = w.advance(hs, hs.wm-int64(w.cfg.AllowedLateness), false)
	}
	return out
}

// sortedHosts lists every host with state, sorted, so that end-of-input output is deterministic.
func (w *Window) sortedHosts() []string {
	var hosts []string
	for i := range w.shards {
		sh := &w.shards[i]
		sh.mu.Lock()
		for h := range sh.hosts {
			hosts = append(hosts, h)
		}
		sh.mu.Unlock()
	}
	sort.Strings(hosts)
	return hosts
}

// Flush closes every window of every host, as at the end of input or on shutdown.
func (w *Window) Flush() []*schemas.FeatureVector {
	var out []*schemas.FeatureVector
	for _, h := range w.sortedHosts() {
		sh := w.shardOf(h)
		sh.mu.Lock()
		if hs := sh.hosts[h]; hs != nil {
			out = append(out, w.advance(hs, math.MaxInt64/2, true)...)
		}
		sh.mu.Unlock()
	}
	return out
}

// End closes, for every host, the windows ending at or before until (the exclusive end of a
// finite input's event-time range; zero: the host's latest event time), as at the end of a
// replay: complete windows still held back by allowed_lateness, and those the range ends with.
// A window the range cuts short stays open: judged on part of its length, its counts and rates
// would look like anomalies.
func (w *Window) End(until time.Time) []*schemas.FeatureVector {
	var out []*schemas.FeatureVector
	for _, h := range w.sortedHosts() {
		sh := w.shardOf(h)
		sh.mu.Lock()
		if hs := sh.hosts[h]; hs != nil && hs.started {
			limit := hs.wm
			if !until.IsZero() {
				limit = until.UnixNano()
			}
			out = append(out, w.advanceTo(hs, limit, false, true)...)
		}
		sh.mu.Unlock()
	}
	return out
}

// Unix seconds a day inside [1970, 2200] in UTC: a time between them is inside in any zone.
var (
	plausibleFrom = time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC).Unix()
	plausibleTo   = time.Date(2200, 12, 30, 0, 0, 0, 0, time.UTC).Unix()
)

// plausibleTime says whether t is a usable event time: set, and in the years 1970 to 2200 (in
// its own zone). Year is a calendar computation: it is done only near the bounds.
func plausibleTime(t time.Time) bool {
	if t.IsZero() {
		return false
	}
	if u := t.Unix(); u >= plausibleFrom && u <= plausibleTo {
		return true
	}
	y := t.Year()
	return y >= 1970 && y <= 2200
}

// setNextClose sets hs.nextClose from hs.closed: the least limit at which a window boundary of
// some spec has passed (floorTo(limit, slide) > closed).
func (w *Window) setNextClose(hs *hostState) {
	next := int64(math.MaxInt64)
	for i, s := range w.cfg.Windows {
		sl := int64(s.Slide)
		next = min(next, floorTo(hs.closed[i], sl)+sl)
	}
	hs.nextClose = next
}

func floorTo(t, d int64) int64 {
	r := t % d
	if r < 0 {
		r += d
	}
	return t - r
}

// kb builds a key in hs's scratch buffer (valid until the next kb or procKey).
func (hs *hostState) kb(parts ...string) []byte {
	b := hs.kbuf[:0]
	for _, p := range parts {
		b = append(b, p...)
	}
	hs.kbuf = b
	return b
}

// procKey builds KeyString(pid, start) in hs's scratch buffer.
func (hs *hostState) procKey(pid int32, start int64) []byte {
	b := append(hs.kbuf[:0], "proc:"...)
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, '@')
	b = strconv.AppendInt(b, start, 10)
	hs.kbuf = b
	return b
}

// keyOf returns (creating) the state of a key other than a process's (procKeyState), or nil
// when the key cap is reached. The key is copied to a string only when the key is new.
func (w *Window) keyOf(hs *hostState, kind string, bkey []byte, entity string, t int64) *keyState {
	ks := hs.keys[string(bkey)]
	if ks == nil {
		if ks = w.newKey(hs, kind, string(bkey), entity, t); ks == nil {
			return nil
		}
		hs.keys[ks.key] = ks
	}
	ks.seen(entity, t)
	return ks
}

// procKeyState is keyOf for the process key of pid and start (KeyString(pid, start)): process
// keys are found by pid and start, their name is built only for a new key.
func (w *Window) procKeyState(hs *hostState, pid int32, start int64, entity string, t int64) *keyState {
	id := procID{pid, start}
	ks := hs.procKeys[id]
	if ks == nil {
		if ks = w.newKey(hs, KindProcess, string(hs.procKey(pid, start)), entity, t); ks == nil {
			return nil
		}
		ks.pid = id
		hs.procKeys[id] = ks
	}
	ks.seen(entity, t)
	return ks
}

// newKey makes the state of a new key (the caller indexes it), or returns nil at the key cap.
func (w *Window) newKey(hs *hostState, kind, key, entity string, t int64) *keyState {
	w.mu.Lock()
	if int(w.keys) >= w.cfg.MaxKeys {
		w.stats.KeysDropped++
		w.mu.Unlock()
		return nil
	}
	w.keys++
	w.mu.Unlock()
	rank := kindRank[kind]
	ks := newKeyState(w.ncover[rank])
	ks.kind, ks.key, ks.entity, ks.rank, ks.lastSeen = kind, key, entity, int32(rank), t
	hs.idle.push(idleEntry{seen: t, ks: ks})
	return ks
}

// seen records an event of the key at t, naming its entity when the event does.
func (ks *keyState) seen(entity string, t int64) {
	if entity != "" {
		ks.entity = entity
	}
	if t > ks.lastSeen {
		ks.lastSeen = t
	}
}

// procID is a process key's identity: pid and start (unix s).
type procID struct {
	pid   int32
	start int64
}

// newKeyState makes a keyState with n specStates, in one allocation for the usual few windows.
func newKeyState(n int) *keyState {
	var ks *keyState
	switch n {
	case 1:
		ka := &struct {
			ks keyState
			s  [1]specState
		}{}
		ks = &ka.ks
		ks.specs = ka.s[:]
	case 2:
		ka := &struct {
			ks keyState
			s  [2]specState
		}{}
		ks = &ka.ks
		ks.specs = ka.s[:]
	case 3:
		ka := &struct {
			ks keyState
			s  [3]specState
		}{}
		ks = &ka.ks
		ks.specs = ka.s[:]
	default:
		ks = &keyState{specs: make([]specState, n)}
	}
	for i := range ks.specs {
		ss := &ks.specs[i]
		ss.panes = ss.first[:0:1]
	}
	return ks
}

// procInfo is what a host knows of the latest process with a pid: its start (unix s), name, and
// its key's state when it had one (a cache of keyOf(procKey(pid, start)): nil, or dropped since,
// means look it up).
type procInfo struct {
	start int64
	name  string
	ks    *keyState
}

// procKeyOf is procKeyState given the state cached for that process key.
func (w *Window) procKeyOf(hs *hostState, cached *keyState, pid int32, start int64, entity string, t int64) *keyState {
	ks := cached
	if ks == nil || ks.dropped {
		return w.procKeyState(hs, pid, start, entity, t)
	}
	if entity != "" { // keyOf's work on a known key, without building and hashing its name
		ks.entity = entity
	}
	if t > ks.lastSeen {
		ks.lastSeen = t
	}
	return ks
}

// touch returns ks's panes that hold time t, one per window spec covering ks's kind (made when
// missing), with evID sampled into each; the caller updates their stats. The slice reuses *buf's
// backing array, so it is valid until the next touch with the same buf: ingest keeps the host's
// panes in hs.hostPanes for the whole event and every other key's in hs.keyPanes. A nil ks (a key
// beyond the cap) has no panes.
func (w *Window) touch(hs *hostState, ks *keyState, t int64, evID string, buf *[]*pane) []*pane {
	out := (*buf)[:0]
	if ks == nil {
		return out
	}
	n := len(featureList(ks.kind))
	for j, i := range w.specsOf[ks.rank] { // ks.specs[j] is spec i's state
		ps := hs.ps[i] // the event's pane start, set by Add
		if t != hs.pst {
			ps = floorTo(t, int64(w.cfg.Windows[i].Slide))
		}
		ss := &ks.specs[j]
		var p *pane
		if lp := &ss.last; lp.p != nil && lp.start == ps {
			p = lp.p
		} else {
			p = ss.panes.get(ps)
		}
		if p == nil {
			if fr := hs.free[ks.rank]; len(fr) > 0 {
				p = fr[len(fr)-1]
				fr[len(fr)-1] = nil
				hs.free[ks.rank] = fr[:len(fr)-1]
			} else {
				p = &pane{stats: make([]stat, n)}
			}
			ss.panes = append(ss.panes, paneAt{ps, p})
			ks.npanes++
			keys, ok := hs.paneKeys[i][ps]
			if fl := hs.freeLists; !ok && len(fl) > 0 { // a new pane start: a closed one's list
				keys = fl[len(fl)-1]
				fl[len(fl)-1] = nil
				hs.freeLists = fl[:len(fl)-1]
			}
			hs.paneKeys[i][ps] = append(keys, ks)
		}
		ss.last = lastPane{start: ps, p: p}
		if evID != "" && len(p.events) < w.cfg.MaxEventIDs {
			p.events = append(p.events, evID)
		}
		out = append(out, p)
	}
	*buf = out
	return out
}

// maxReusedSet is the largest distinct-value set a recycled pane keeps (cleared) for reuse.
const maxReusedSet = 1024

// reset empties a closed pane for reuse, as new as &pane{stats: make([]stat, n)}.
func (p *pane) reset() {
	for i := range p.stats {
		st := &p.stats[i]
		if st.n == 0 && st.distinct() == 0 {
			continue // untouched (every update counts n): already as new
		}
		set := st.set
		if set != nil {
			set.reset()
		}
		*st = stat{set: set}
	}
	for i, ts := range p.times {
		if cap(ts) > maxReusedSet {
			ts = nil
		}
		p.times[i] = ts[:0]
	}
	clear(p.flags)
	clear(p.events)
	p.events = p.events[:0]
}

func (p *pane) addI(i int, v float64, t int64) {
	if i >= 0 {
		p.stats[i].add(v, t)
	}
}

func (p *pane) setI(i int, x string) {
	if i >= 0 {
		p.stats[i].n++
		p.stats[i].addSet(hash64(x))
	}
}

// setHashI is setI for a value already hashed with hash64.
func (p *pane) setHashI(i int, h uint64) {
	if i >= 0 {
		p.stats[i].n++
		p.stats[i].addSet(h)
	}
}

// uidHash is hash64 of the uid's decimal string, built in hs's scratch buffer.
func (hs *hostState) uidHash(uid uint32) uint64 {
	b := strconv.AppendUint(hs.kbuf[:0], uint64(uid), 10)
	hs.kbuf = b
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

func (p *pane) addPerTimeI(i int, v float64, t int64) {
	if i >= 0 {
		p.stats[i].add(v, t)
		p.perTimeAdd(i, t)
	}
}

func (p *pane) add(kind, name string, v float64, t int64) {
	if i, ok := featIdx[kind][name]; ok {
		p.stats[i].add(v, t)
	}
}

func (p *pane) flag(f string) {
	if p.flags == nil {
		p.flags = map[string]struct{}{}
	}
	p.flags[f] = struct{}{}
}

// firstSeen records x in seen and reports whether it is new (bounded: past the cap nothing
// more is remembered and nothing more counts as new).
func (w *Window) firstSeen(seen map[string]struct{}, x string) bool {
	if _, ok := seen[x]; ok || len(seen) >= w.cfg.MaxSeen {
		return false
	}
	seen[x] = struct{}{}
	return true
}

// host metric name -> host features fed (sum-per-time features are marked in sumPerTime).
var hostMetricFeatures = map[string][]string{
	"cpu.user": {"cpu.user", "cpu.user.max", "cpu.user.stddev"}, "cpu.system": {"cpu.system"}, "cpu.iowait": {"cpu.iowait"},
	"mem.used_percent": {"mem.used_pct"}, "swap.used_percent": {"swap.used_pct"}, "load.1": {"load1"}, "load.5": {"load5"},
	"mem.used_pct": {"mem.used_pct"}, "swap.used_pct": {"swap.used_pct"}, "load1": {"load1"}, "load5": {"load5"},
	"net.rx_bytes_per_s": {"net.rx_bytes_per_s"}, "net.tx_bytes_per_s": {"net.tx_bytes_per_s"},
	"disk.read_bytes_per_s": {"disk.read_bytes_per_s"}, "disk.write_bytes_per_s": {"disk.write_bytes_per_s"},
}

// features whose value is sum / distinct sample times.
var sumPerTime = map[string]bool{
	"host/net.rx_bytes_per_s": true, "host/net.tx_bytes_per_s": true, "host/disk.read_bytes_per_s": true, "host/disk.write_bytes_per_s": true,
	"host/snmp.if_in_octets_per_s": true, "host/snmp.if_out_octets_per_s": true, "host/snmp.if_errors_per_s": true,
	"device/if.in_octets_per_s": true, "device/if.out_octets_per_s": true, "device/if.in_errors_per_s": true,
	"device/if.out_errors_per_s": true, "device/if.in_discards_per_s": true, "device/if.out_discards_per_s": true,
}

// interface feature by metric name (host net.* or SNMP if.*).
var ifaceMetric = map[string][]string{
	"net.rx_bytes_per_s": {"in_octets_per_s", "in_octets_per_s.max"}, "net.tx_bytes_per_s": {"out_octets_per_s", "out_octets_per_s.max"},
	"if.in_octets_per_s": {"in_octets_per_s", "in_octets_per_s.max"}, "if.out_octets_per_s": {"out_octets_per_s", "out_octets_per_s.max"},
	"net.rx_packets_per_s": {"in_packets_per_s"}, "net.tx_packets_per_s": {"out_packets_per_s"},
	"if.in_ucast_pkts_per_s": {"in_packets_per_s"}, "if.out_ucast_pkts_per_s": {"out_packets_per_s"},
	"net.rx_errors_per_s": {"in_errors_per_s"}, "net.tx_errors_per_s": {"out_errors_per_s"},
	"if.in_errors_per_s": {"in_errors_per_s"}, "if.out_errors_per_s": {"out_errors_per_s"},
	"net.rx_drops_per_s": {"in_discards_per_s"}, "net.tx_drops_per_s": {"out_discards_per_s"},
	"if.in_discards_per_s": {"in_discards_per_s"}, "if.out_discards_per_s": {"out_discards_per_s"},
}

// featRef is a feature's index and whether it is a per-time feature.
type featRef struct {
	i       int
	perTime bool
}

// hostMetricIdx and ifaceMetricIdx are hostMetricFeatures and ifaceMetric resolved to indices.
var (
	hostMetricIdx = func() map[string][]featRef {
		out := map[string][]featRef{}
		for m, fs := range hostMetricFeatures {
			for _, f := range fs {
				out[m] = append(out[m], featRef{fi(KindHost, f), sumPerTime["host/"+f]})
			}
		}
		return out
	}()
	ifaceMetricIdx = func() map[string][]int {
		out := map[string][]int{}
		for m, fs := range ifaceMetric {
			for _, f := range fs {
				out[m] = append(out[m], fi(KindInterface, f))
			}
		}
		return out
	}()
)

func (p *pane) addPerTime(kind, name string, v float64, t int64) {
	if i, ok := featIdx[kind][name]; ok {
		p.stats[i].add(v, t)
		p.perTimeAdd(i, t)
	}
}

// ingest adds one event to the panes of the keys it concerns. The host key's panes are found
// once per event (every event counts there), every other key's when it is touched; values hashed
// for distinct counts are hashed once, not once per pane.
func (w *Window) ingest(hs *hostState, ev *schemas.TelemetryEvent, t int64) {
	host := hs.hostKey
	if host != nil && !host.dropped { // keyOf's work without the map lookup
		if t > host.lastSeen {
			host.lastSeen = t
		}
	} else {
		host = w.keyOf(hs, KindHost, hs.kb("host"), hs.host, t)
		hs.hostKey = host
	}
	hp := w.touch(hs, host, t, ev.ID, &hs.hostPanes)
	for _, p := range hp {
		p.addI(fiHostEventsCount, 1, t)
	}
	switch ev.Kind {
	case schemas.KindProcessExec, schemas.KindProcessExit, schemas.KindProcessSample:
		pr := ev.Process
		if pr == nil {
			return
		}
		info, known := hs.procs[pr.PID]
		start := pr.StartTime.Unix()
		if pr.StartTime.IsZero() && known {
			start = info.start
		}
		var proc *keyState
		if ev.Kind != schemas.KindProcessExit {
			if known && info.start == start {
				proc = w.procKeyOf(hs, info.ks, pr.PID, start, pr.Name, t)
			} else {
				proc = w.procKeyState(hs, pr.PID, start, pr.Name, t)
			}
			if known || len(hs.procs) < w.cfg.MaxSeen {
				hs.procs[pr.PID] = procInfo{start: start, name: pr.Name, ks: proc}
			}
		}
		switch ev.Kind {
		case schemas.KindProcessExec:
			newExe := pr.Exe != "" && w.firstSeen(hs.seenExe, pr.Exe)
			privEsc := pr.EUID == 0 && len(pr.Ancestry) > 0 && pr.Ancestry[0].EUID != 0
			exeHash, uidHash := hash64(pr.Exe), hs.uidHash(pr.UID)
			for _, p := range hp {
				p.addI(fiHostProcExecCount, 1, t)
				p.addI(fiHostProcExecRate, 1, t)
				if pr.Exe != "" {
					p.setHashI(fiHostProcDistinctExeCount, exeHash)
				}
				p.setHashI(fiHostProcDistinctUserCount, uidHash)
				if newExe {
					p.addI(fiHostProcNewExeCount, 1, t)
					p.flag(FlagNewExecutable)
				}
				if privEsc {
					p.addI(fiHostProcPrivEscCount, 1, t)
					p.flag(FlagPrivilegeEscalation)
				}
			}
			for _, p := range w.touch(hs, proc, t, ev.ID, &hs.keyPanes) {
				if newExe {
					p.flag(FlagNewExecutable)
				}
				if privEsc {
					p.flag(FlagPrivilegeEscalation)
				}
			}
			if pi, ok := hs.procs[pr.PPID]; ok && pr.PPID != pr.PID {
				parent := w.procKeyOf(hs, pi.ks, pr.PPID, pi.start, pi.name, t)
				for _, p := range w.touch(hs, parent, t, "", &hs.keyPanes) {
					p.addI(fiProcessChildExecCount, 1, t)
				}
			}
		case schemas.KindProcessExit:
			for _, p := range hp {
				p.addI(fiHostProcExitCount, 1, t)
			}
			delete(hs.procs, pr.PID)
		case schemas.KindProcessSample:
			for _, p := range w.touch(hs, proc, t, ev.ID, &hs.keyPanes) {
				p.addI(fiProcessCpuPercent, pr.CPUPercent, t)
				p.addI(fiProcessCpuPercentMax, pr.CPUPercent, t)
				p.addI(fiProcessRssBytes, float64(pr.RSSBytes), t)
				p.addI(fiProcessRssBytesMax, float64(pr.RSSBytes), t)
				p.addI(fiProcessFds, float64(pr.FDs), t)
				p.addI(fiProcessThreads, float64(pr.Threads), t)
				p.addI(fiProcessReadBytesPerS, float64(pr.ReadBytes), t)
				p.addI(fiProcessWriteBytesPerS, float64(pr.WriteBytes), t)
				p.addI(fiProcessSamples, 1, t)
			}
		}
	case schemas.KindConnection, schemas.KindListener:
		c := ev.Conn
		if c == nil {
			return
		}
		var proc *keyState
		if pi, ok := hs.procs[c.PID]; ok && c.PID != 0 {
			proc = w.procKeyOf(hs, pi.ks, c.PID, pi.start, pi.name, t)
		}
		opened := c.Action != "closed"
		if ev.Kind == schemas.KindConnection {
			if !opened {
				for _, p := range hp {
					p.addI(fiHostConnCloseCount, 1, t)
				}
				return
			}
			newRem := c.RemoteAddr != "" && w.firstSeen(hs.seenRem, c.RemoteAddr)
			remHash := hash64(c.RemoteAddr)
			for _, p := range hp {
				p.addI(fiHostConnOpenCount, 1, t)
				if c.RemoteAddr != "" {
					p.setHashI(fiHostConnDistinctRemoteCount, remHash)
				}
				if newRem {
					p.addI(fiHostConnNewRemoteCount, 1, t)
				}
			}
			for _, p := range w.touch(hs, proc, t, ev.ID, &hs.keyPanes) {
				p.addI(fiProcessConnCount, 1, t)
				if c.RemoteAddr != "" {
					p.setHashI(fiProcessDistinctRemoteCount, remHash)
				}
			}
			return
		}
		if !opened {
			return
		}
		lkey := c.Proto + "|" + c.LocalAddr + "|" + strconv.Itoa(int(c.LocalPort)) + "|" + c.Exe
		newL := w.firstSeen(hs.seenLst, lkey)
		for _, p := range hp {
			p.addI(fiHostListenerOpenCount, 1, t)
			if newL {
				p.addI(fiHostListenerNewCount, 1, t)
				p.flag(FlagNewListener)
			}
		}
		for _, p := range w.touch(hs, proc, t, ev.ID, &hs.keyPanes) {
			p.addI(fiProcessListenerCount, 1, t)
		}
	case schemas.KindHostMetric:
		m := ev.Metric
		if m == nil || math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			return
		}
		iface := m.Labels["interface"]
		if iface != "lo" {
			hm := hostMetricIdx[m.Name]
			for _, p := range hp {
				for _, f := range hm {
					if f.perTime {
						p.addPerTimeI(f.i, m.Value, t)
					} else {
						p.addI(f.i, m.Value, t)
					}
				}
			}
		}
		if iface == "" {
			return
		}
		if fs := ifaceMetricIdx[m.Name]; fs != nil {
			ik := w.keyOf(hs, KindInterface, hs.kb("if:", iface), iface, t)
			for _, p := range w.touch(hs, ik, t, ev.ID, &hs.keyPanes) {
				for _, i := range fs {
					p.addI(i, m.Value, t)
				}
				p.addI(fiInterfaceSamples, 1, t)
			}
		}
	case schemas.KindSNMPMetric:
		m := ev.Metric
		if m == nil || math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			return
		}
		dev := m.Device
		dk := w.keyOf(hs, KindDevice, hs.kb("dev:", dev), dev, t)
		iface := m.Labels["interface"]
		if iface == "" {
			iface = m.Labels["ifName"]
		}
		if iface == "" {
			iface = m.Labels["ifIndex"]
		}
		devHash := hash64(dev)
		for _, p := range hp {
			p.setHashI(fiHostSnmpDeviceCount, devHash)
			switch m.Name {
			case "if.in_octets_per_s":
				p.addPerTimeI(fiHostSnmpIfInOctetsPerS, m.Value, t)
			case "if.out_octets_per_s":
				p.addPerTimeI(fiHostSnmpIfOutOctetsPerS, m.Value, t)
			case "if.in_errors_per_s", "if.out_errors_per_s":
				p.addPerTimeI(fiHostSnmpIfErrorsPerS, m.Value, t)
			}
		}
		for _, p := range w.touch(hs, dk, t, ev.ID, &hs.keyPanes) {
			p.addI(fiDeviceSamples, 1, t)
			switch {
			case sumPerTime["device/"+m.Name]:
				p.addPerTime(KindDevice, m.Name, m.Value, t)
			case m.Name == "hr.swrun_count":
				p.addI(fiDeviceHrSwRunCount, m.Value, t)
			case m.Name == "hr.processor_load_percent":
				p.addI(fiDeviceHrCpuLoad, m.Value, t)
			case m.Name == "if.oper_status":
				if m.Value == 1 {
					p.setI(fiDeviceIfOperUpCount, iface)
				}
			default:
				p.add(KindDevice, m.Name, m.Value, t)
			}
		}
		if fs := ifaceMetricIdx[m.Name]; iface != "" && fs != nil {
			ik := w.keyOf(hs, KindInterface, hs.kb("if:", dev, "/", iface), dev+"/"+iface, t)
			for _, p := range w.touch(hs, ik, t, ev.ID, &hs.keyPanes) {
				for _, i := range fs {
					p.addI(i, m.Value, t)
				}
				p.addI(fiInterfaceSamples, 1, t)
			}
		}
	case schemas.KindDevice:
		if d := ev.Device; d != nil {
			dk := w.keyOf(hs, KindDevice, hs.kb("dev:", d.Address), firstNonEmpty(d.SysName, d.Address), t)
			for _, p := range w.touch(hs, dk, t, ev.ID, &hs.keyPanes) {
				p.addI(fiDeviceDeviceEvents, 1, t)
			}
		}
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// closing is a window to emit: its end, spec and key; rank and key are copied from ks so that
// sorting reads the closings alone, not every key's state.
type closing struct {
	end  int64
	spec int
	rank int32
	key  string
	ks   *keyState
}

// advance emits every window of hs that ends at or before limit (all windows with data when
// flush), then drops panes and keys no later window needs. Its cost is in the keys with open
// windows (hs.paneKeys) and the keys whose idle time has come (hs.idle), not in every key the
// host remembers.
func (w *Window) advance(hs *hostState, limit int64, flush bool) []*schemas.FeatureVector {
	return w.advanceTo(hs, limit, flush, false)
}

// advanceTo is advance; with end (the end of the input) limit is the end of the input's range,
// not a watermark: windows ending at or before it close, and a boundary need not have moved.
func (w *Window) advanceTo(hs *hostState, limit int64, flush, end bool) []*schemas.FeatureVector {
	if !flush && !end && limit < hs.nextClose { // no window boundary passed: nothing to close or expire
		return nil
	}
	defer w.setNextClose(hs)
	cl := hs.cl[:0]
	for i, s := range w.cfg.Windows {
		slide, size := int64(s.Slide), int64(s.Size)
		lim := floorTo(limit, slide)
		if !flush && lim <= hs.closed[i] {
			continue
		}
		hs.gen++
		first := len(cl)
		for _, keys := range hs.paneKeys[i] {
			for _, ks := range keys {
				if ks.mark == hs.gen {
					continue
				}
				ks.mark = hs.gen
				ss := w.spec(ks, i)
				minP, maxP := int64(math.MaxInt64), int64(math.MinInt64)
				for _, pa := range ss.panes {
					ps := pa.start
					minP = min(minP, ps)
					maxP = max(maxP, ps)
				}
				from := max(hs.closed[i]+slide, minP+slide)
				to := min(lim, maxP+size)
				for e := from; e <= to; e += slide {
					for ps := e - size; ps < e; ps += slide {
						if ss.panes.get(ps) != nil {
							cl = append(cl, closing{end: e, spec: i, rank: ks.rank, key: ks.key, ks: ks})
							break
						}
					}
				}
			}
		}
		if flush {
			maxEnd := hs.closed[i]
			for _, c := range cl[first:] {
				maxEnd = max(maxEnd, c.end)
			}
			hs.closed[i] = maxEnd
		} else {
			hs.closed[i] = lim
		}
	}
	// A total order (a key closes once per end and spec): any sort gives the same sequence.
	slices.SortFunc(cl, func(x, y closing) int {
		if c := cmp.Compare(x.end, y.end); c != 0 {
			return c
		}
		if c := cmp.Compare(x.spec, y.spec); c != 0 {
			return c
		}
		if c := cmp.Compare(x.rank, y.rank); c != 0 {
			return c
		}
		return strings.Compare(x.key, y.key)
	})
	var out []*schemas.FeatureVector
	if len(cl) > 0 {
		out = make([]*schemas.FeatureVector, 0, len(cl))
	}
	hs.ids = hs.ids[:0]
	for _, c := range cl {
		fv := w.vector(hs, c.ks, c.spec, c.end)
		if w.emit[c.ks.kind] {
			out = append(out, fv)
		} else {
			hs.ids = hs.ids[:len(hs.ids)-idLen] // not emitted: no id needed
		}
	}
	if len(out) > 0 { // one string for the ids of every vector: each ID is a piece of it
		ids := string(hs.ids)
		for i, fv := range out {
			fv.ID = ids[i*idLen : (i+1)*idLen]
		}
	}
	clear(cl)
	hs.cl = cl[:0]
	// Drop panes no open window needs, then idle keys.
	for i, s := range w.cfg.Windows {
		for ps, keys := range hs.paneKeys[i] {
			if ps+int64(s.Size) > hs.closed[i] {
				continue
			}
			for _, ks := range keys {
				ss := w.spec(ks, i)
				if p := ss.panes.get(ps); p != nil {
					p.reset()
					hs.free[ks.rank] = append(hs.free[ks.rank], p)
				}
				if ss.last.start == ps {
					ss.last = lastPane{} // the pane is recycled: never touch it through the cache
				}
				ss.panes.del(ps)
				ks.npanes--
			}
			clear(keys)
			hs.freeLists = append(hs.freeLists, keys[:0])
			delete(hs.paneKeys[i], ps)
		}
	}
	drop := hs.drop[:0]
	idleFor := int64(w.cfg.KeyIdle)
	if flush {
		for _, ks := range hs.keys {
			if ks.npanes == 0 && hs.wm-ks.lastSeen > idleFor {
				drop = append(drop, ks)
			}
		}
		for _, ks := range hs.procKeys { // a process's key goes with its last window
			if ks.npanes == 0 {
				drop = append(drop, ks)
			}
		}
	} else {
		// Keys idle for key_idle but with panes still open wait in hs.pending until they close.
		keep := hs.pending[:0]
		for _, ks := range hs.pending {
			switch {
			case hs.wm-ks.lastSeen <= idleFor: // seen again: back to the heap
				ks.pending = false
				hs.idle.push(idleEntry{seen: ks.lastSeen, ks: ks})
			case ks.npanes == 0:
				ks.pending = false
				drop = append(drop, ks)
			default:
				keep = append(keep, ks)
			}
		}
		clear(hs.pending[len(keep):])
		hs.pending = keep
		for len(hs.idle) > 0 && hs.wm-hs.idle[0].seen > idleFor {
			e := hs.idle.pop()
			ks := e.ks
			switch {
			case ks.dropped:
			case ks.lastSeen > e.seen: // stale entry: the key has been seen since
				hs.idle.push(idleEntry{seen: ks.lastSeen, ks: ks})
			case ks.npanes == 0:
				drop = append(drop, ks)
			default:
				ks.pending = true
				hs.pending = append(hs.pending, ks)
			}
		}
	}
	for _, ks := range drop {
		ks.dropped = true
		if ks.kind == KindProcess {
			delete(hs.procKeys, ks.pid)
		} else {
			delete(hs.keys, ks.key)
		}
	}
	if flush && len(drop) > 0 {
		keep := hs.pending[:0]
		for _, ks := range hs.pending {
			if !ks.dropped {
				keep = append(keep, ks)
			}
		}
		clear(hs.pending[len(keep):])
		hs.pending = keep
		hs.idle.drop()
	}
	clear(drop)
	hs.drop = drop[:0]
	w.mu.Lock()
	w.keys -= int64(len(drop))
	w.stats.Vectors += int64(len(out))
	w.mu.Unlock()
	return out
}

// vector merges the panes of one window and normalises it against the key's history.
func (w *Window) vector(hs *hostState, ks *keyState, spec int, end int64) *schemas.FeatureVector {
	s := w.cfg.Windows[spec]
	size, slide := int64(s.Size), int64(s.Slide)
	feats := featureList(ks.kind)
	perTime := perTimeIdx[ks.rank]
	ss := w.spec(ks, spec)
	// The window's panes: a tumbling window (every process vector) has one, and its stats are
	// read in place; several are merged into the scratch.
	var only *pane
	npanes, nev := 0, 0
	for ps := end - size; ps < end; ps += slide {
		if p := ss.panes.get(ps); p != nil {
			only = p
			npanes++
			nev += len(p.events)
		}
	}
	if cap(hs.times) < len(feats) {
		hs.times = make([]int, len(feats))
	}
	times := hs.times[:len(feats)]
	clear(times)
	flags := hs.flags[:0]
	var events []string
	if k := min(nev, w.cfg.MaxEventIDs); k > 0 { // exactly as many as are sampled below: no append moves it
		events = hs.strs.take(k, strChunk)[:0]
	}
	var stats []stat
	if npanes == 1 {
		stats = only.stats
		for i := range stats {
			if perTime[i] {
				times[i] = only.ntimes(i)
			}
		}
		for f := range only.flags {
			flags = append(flags, f)
		}
		events = append(events, only.events[:min(len(only.events), w.cfg.MaxEventIDs)]...)
	} else {
		if cap(hs.merged) < len(feats) {
			hs.merged = make([]stat, len(feats))
		}
		merged := hs.merged[:len(feats)]
		for i := range merged { // the scratch keeps its sets: as large as one window's distinct values
			set := merged[i].set
			if set != nil {
				set.clear()
			}
			merged[i] = stat{set: set}
		}
		for ps := end - size; ps < end; ps += slide {
			p := ss.panes.get(ps)
			if p == nil {
				continue
			}
			for i := range p.stats {
				// Per-time features count distinct sample times: the panes' times are disjoint, so
				// the window's count is the sum of the panes' (no set to merge).
				mergeStat(&merged[i], &p.stats[i])
				if perTime[i] {
					times[i] += p.ntimes(i)
				}
			}
			for f := range p.flags {
				flags = append(flags, f)
			}
			for _, e := range p.events {
				if len(events) < w.cfg.MaxEventIDs {
					events = append(events, e)
				}
			}
		}
		stats = merged
	}
	secs := s.Size.Seconds()
	vn := hs.floats.take(2*len(feats), floatChunk) // Values and Normalised
	vals := vn[:len(feats):len(feats)]
	for i, f := range feats {
		st := &stats[i]
		var v float64
		switch {
		case perTime[i]:
			if times[i] > 0 {
				v = st.sum / float64(times[i])
			}
		case f.Agg == AggCount || f.Agg == AggNew:
			v = st.n
		case f.Agg == AggSum:
			v = st.sum
		case f.Agg == AggRate:
			v = st.n / secs
		case f.Agg == AggMean:
			if st.n > 0 {
				v = st.sum / st.n
			}
		case f.Agg == AggMin:
			v = st.min
		case f.Agg == AggMax:
			v = st.max
		case f.Agg == AggStddev:
			if st.n > 0 {
				m := st.sum / st.n
				v = math.Sqrt(math.Max(0, st.sumsq/st.n-m*m))
			}
		case f.Agg == AggDistinct:
			v = float64(st.distinct())
		case f.Agg == AggDelta:
			if st.n >= 2 && st.lastT > st.firstT && st.lastV >= st.firstV {
				v = (st.lastV - st.firstV) / (float64(st.lastT-st.firstT) / 1e9)
			}
		}
		vals[i] = v
	}
	norm, spikes := w.normalise(hs, ks, ss, vals, vn[len(feats):])
	for _, n := range spikes {
		flags = append(flags, FlagSpike, FlagSpike+":"+n)
	}
	sort.Strings(flags)
	flags = slices.Compact(flags)
	var fl []string
	if len(flags) > 0 {
		fl = hs.strs.take(len(flags), strChunk)
		copy(fl, flags)
	}
	clear(flags)
	hs.flags = flags[:0]
	start := time.Unix(0, end-size).UTC()
	name := w.names[spec]
	b := append(hs.idbuf[:0], hs.host...)
	b = append(append(b, 0), ks.key...)
	b = append(append(b, 0), name...)
	b = append(append(b, '/'), w.slides[spec]...)
	b = strconv.AppendInt(append(b, 0), end-size, 10)
	hs.idbuf = b
	sum := sha1.Sum(b)
	// The id's hex goes to hs.ids; advanceTo sets ID from it once every vector is built.
	hs.ids = hex.AppendEncode(hs.ids, sum[:8])
	fv := &hs.vecs.take(1, vecChunk)[0]
	*fv = schemas.FeatureVector{
		SchemaVersion: schemas.FeaturesVersion,
		Host:          hs.host, KeyKind: ks.kind, Key: ks.key, Entity: ks.entity,
		Window: name, Start: start, End: time.Unix(0, end).UTC(),
		Names: sharedNames[ks.rank], Values: vals, Normalised: norm,
		Flags: fl, EventIDs: events,
	}
	return fv
}

// idLen is the length of a vector id: 8 bytes of sha1 in hex.
const idLen = 16

// mergeStat adds s to d; only distinct features have sets (per-time features keep their times in
// pane.times).
func mergeStat(d, s *stat) {
	if s.n == 0 && s.distinct() == 0 {
		return
	}
	if s.n > 0 {
		if d.n == 0 || s.min < d.min {
			d.min = s.min
		}
		if d.n == 0 || s.max > d.max {
			d.max = s.max
		}
		if d.n == 0 || s.firstT < d.firstT {
			d.firstT, d.firstV = s.firstT, s.firstV
		}
		if d.n == 0 || s.lastT >= d.lastT {
			d.lastT, d.lastV = s.lastT, s.lastV
		}
	}
	d.n += s.n
	d.sum += s.sum
	d.sumsq += s.sumsq
	if s.distinct() > 0 {
		if d.set == nil {
			d.set = &u64set{}
		}
		d.set.addAll(s.set)
	}
}

// normalise scales vals to 0..1 into out (zeroed, as long as vals) against the key's history
// for this window spec, records them, and names the features whose robust z-score is a spike.
func (w *Window) normalise(hs *hostState, ks *keyState, ss *specState, vals, out []float64) ([]float64, []string) {
	feats := featureList(ks.kind)
	var spikes []string
	if ss.hist == nil {
		one := ss.one
		if one == nil {
			// The key's first vector for this spec (most process keys have no other): judged
			// against an empty history as the loop below would (median 0, z 0), and kept in
			// one slice.
			for i, v := range vals {
				if w.cfg.Normalise != NormMinMax {
					out[i] = 0.5 // the logistic of z = 0; minmax leaves 0 (lo == hi)
				}
				if 0 >= w.cfg.MinHistory && 0 >= w.cfg.SpikeZ && v > 0 {
					spikes = append(spikes, feats[i].Name)
				}
			}
			ss.one = hs.ones.take(len(vals), oneChunk)
			copy(ss.one, vals)
			return out, spikes
		}
		// The second vector: the per-feature history and sorted copy, each holding the first
		// value, in one backing array with room for this one (three-index slices: an append
		// past histCap moves out).
		n, c := len(one), min(histCap, w.cfg.History+1)
		hb := make([][]float64, 2*n)
		ss.hist, ss.sorted = hb[:n:n], hb[n:]
		buf := make([]float64, 2*n*c)
		for i := range n {
			ss.hist[i] = append(buf[2*i*c:2*i*c:2*i*c+c], one[i])
			ss.sorted[i] = append(buf[(2*i+1)*c:(2*i+1)*c:(2*i+2)*c], one[i])
		}
		ss.one = nil
	}
	full := false
	for i, v := range vals {
		h := ss.hist[i]
		srt := ss.sorted[i]
		med, iqr := medianIQR(srt)
		z := 0.0
		if len(h) > 0 {
			scale := iqr / 1.349
			if scale == 0 {
				scale = math.Max(1e-9, math.Abs(med)*0.05)
			}
			z = (v - med) / scale
		}
		if w.cfg.Normalise == NormMinMax {
			lo, hi := v, v
			if len(srt) > 0 {
				lo, hi = math.Min(lo, srt[0]), math.Max(hi, srt[len(srt)-1])
			}
			if hi > lo {
				out[i] = (v - lo) / (hi - lo)
			}
		} else if z == 0 {
			out[i] = 0.5 // the logistic of 0, exactly (every feature of a key's first window)
		} else {
			out[i] = 1 / (1 + math.Exp(-math.Max(-40, math.Min(40, z))))
		}
		if len(h) >= w.cfg.MinHistory && math.Abs(z) >= w.cfg.SpikeZ && v > med {
			spikes = append(spikes, feats[i].Name)
		}
		srt = insertSorted(srt, v)
		if len(h) < w.cfg.History {
			h = append(h, v)
		} else { // v replaces the oldest value
			full = true
			srt = removeSorted(srt, h[ss.head])
			h[ss.head] = v
		}
		ss.hist[i] = h
		ss.sorted[i] = srt
	}
	if full { // every feature's history has the same length: one head moves for all
		ss.head = (ss.head + 1) % w.cfg.History
	}
	return out, spikes
}

// histCap is the history capacity a key's second vector reserves per feature: the first value
// and its own.
const histCap = 2

func insertSorted(s []float64, v float64) []float64 {
	i := sort.SearchFloat64s(s, v)
	s = append(s, 0)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

func removeSorted(s []float64, v float64) []float64 {
	i := sort.SearchFloat64s(s, v)
	if i < len(s) && s[i] == v {
		return append(s[:i], s[i+1:]...)
	}
	return s
}

// medianIQR of an already sorted slice.
func medianIQR(s []float64) (float64, float64) {
	if len(s) == 0 {
		return 0, 0
	}
	q := func(p float64) float64 {
		x := p * float64(len(s)-1)
		i := int(x)
		if i+1 >= len(s) {
			return s[len(s)-1]
		}
		return s[i] + (x-float64(i))*(s[i+1]-s[i])
	}
	return q(0.5), q(0.75) - q(0.25)
}

// KeyString is the process key the window stage and the geometric layer share.
func KeyString(pid int32, start time.Time) string {
	return "proc:" + strconv.Itoa(int(pid)) + "@" + strconv.FormatInt(start.Unix(), 10)
}
