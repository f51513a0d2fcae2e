// Package rate turns monotonically increasing counters into per-second rates, handling counter
// wrap (32-bit SNMP counters) and resets (reboots, driver reloads, interface re-creation).
package rate

import (
	"math"
	"time"
)

// Width is a counter's bit width.
type Width uint8

// Counter widths.
const (
	W32 Width = 32
	W64 Width = 64
)

// Result says what Observe made of a new reading.
type Result uint8

// Observe results.
const (
	First   Result = iota // first reading of this key: no rate yet
	OK                    // rate computed
	Wrapped               // the counter wrapped once; rate computed across the wrap
	Reset                 // the counter went back (reset/reboot): no rate, baseline restarted
	Stale                 // no time passed since the previous reading: no rate
)

type reading struct {
	v uint64
	t time.Time
}

// Tracker remembers the last reading of each counter key. Not safe for concurrent use.
type Tracker struct {
	last map[string]reading
	seen map[string]bool
}

// New returns an empty Tracker.
func New() *Tracker { return &Tracker{last: map[string]reading{}, seen: map[string]bool{}} }

// Observe records value v of counter key at t and returns the per-second rate since the previous
// reading. A decrease is a wrap when the counter is 32 bits wide and the wrapped delta is under
// half the range (a plausible single wrap); otherwise it is a reset.
func (tr *Tracker) Observe(key string, v uint64, t time.Time, w Width) (float64, Result) {
	tr.seen[key] = true
	prev, ok := tr.last[key]
	tr.last[key] = reading{v, t}
	if !ok {
		return 0, First
	}
	dt := t.Sub(prev.t).Seconds()
	if dt <= 0 {
		return 0, Stale
	}
	if v >= prev.v {
		return float64(v-prev.v) / dt, OK
	}
	if w == W32 && prev.v <= math.MaxUint32 && v <= math.MaxUint32 {
		d := (uint64(math.MaxUint32) - prev.v) + v + 1
		if d < 1<<31 {
			return float64(d) / dt, Wrapped
		}
	}
	return 0, Reset
}

// Forget drops key (e.g. when the device rebooted).
func (tr *Tracker) Forget(key string) { delete(tr.last, key) }

// Sweep forgets every key not observed since the previous Sweep (interfaces or disks that went
// away), so the tracker does not grow without bound.
func (tr *Tracker) Sweep() {
	for k := range tr.last {
		if !tr.seen[k] {
			delete(tr.last, k)
		}
	}
	clear(tr.seen)
}

// Len is the number of keys tracked.
func (tr *Tracker) Len() int { return len(tr.last) }
