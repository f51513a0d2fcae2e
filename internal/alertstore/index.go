package alertstore

import (
	"encoding/json"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amoskys/amoskys/schemas"
)

// Entry is one alert held by the index, with its JSON rendered once.
type Entry struct {
	Alert *schemas.AlertEvent
	JSON  []byte
	t     int64 // Alert.Time in unix microseconds: the order key with the id
}

func (e *Entry) less(t int64, id string) bool {
	return e.t < t || (e.t == t && e.Alert.ID < id)
}

// Index holds the newest alerts (current version of each) in (time, id) order, bounded by its
// capacity: the API answers its recent-alerts page from here without touching the warehouse.
// Truncated reports whether alerts older than the oldest held may exist elsewhere (the store).
type Index struct {
	mu        sync.RWMutex
	cap       int
	sorted    []*Entry // ascending by (time, id); the newest at the end
	byID      map[string]*Entry
	truncated bool
	gen       atomic.Uint64 // bumped by every change: a cached answer of an older generation is stale
}

// Gen returns the index's generation; it changes whenever the index does.
func (x *Index) Gen() uint64 { return x.gen.Load() }

// NewIndex returns an index holding at most capacity alerts.
func NewIndex(capacity int) *Index {
	return &Index{cap: max(capacity, 1), byID: make(map[string]*Entry, capacity)}
}

// Len returns the number of alerts held.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.sorted)
}

// SetTruncated records that older alerts than the index holds exist in the store.
func (x *Index) SetTruncated(v bool) {
	x.mu.Lock()
	x.truncated = v
	x.mu.Unlock()
	x.gen.Add(1)
}

// Put adds or replaces an alert (the higher or equal version wins). The alert must not change after.
func (x *Index) Put(a *schemas.AlertEvent) {
	b, err := json.Marshal(a)
	if err != nil {
		return // an AlertEvent always marshals; a NaN score is refused upstream
	}
	e := &Entry{Alert: a, JSON: b, t: a.Time.UnixMicro()}
	x.mu.Lock()
	defer x.mu.Unlock()
	defer x.gen.Add(1)
	if old := x.byID[a.ID]; old != nil {
		if old.Alert.Version > a.Version {
			return
		}
		x.remove(old)
	}
	n := len(x.sorted)
	if n == 0 || x.sorted[n-1].less(e.t, a.ID) {
		x.sorted = append(x.sorted, e) // the usual case: the newest alert
	} else {
		i := sort.Search(n, func(i int) bool { return !x.sorted[i].less(e.t, a.ID) })
		if i == 0 && n >= x.cap {
			x.truncated = true // older than everything held in a full index: the store has it
			return
		}
		x.sorted = append(x.sorted, nil)
		copy(x.sorted[i+1:], x.sorted[i:])
		x.sorted[i] = e
	}
	x.byID[a.ID] = e
	if over := len(x.sorted) - x.cap; over > 0 {
		for _, old := range x.sorted[:over] {
			delete(x.byID, old.Alert.ID)
		}
		// Move instead of re-slicing so the backing array does not grow without bound.
		x.sorted = append(x.sorted[:0], x.sorted[over:]...)
		x.truncated = true
	}
}

func (x *Index) remove(e *Entry) {
	i := sort.Search(len(x.sorted), func(i int) bool { return !x.sorted[i].less(e.t, e.Alert.ID) })
	if i < len(x.sorted) && x.sorted[i] == e {
		x.sorted = append(x.sorted[:i], x.sorted[i+1:]...)
	}
	delete(x.byID, e.Alert.ID)
}

// Get returns the held entry for id.
func (x *Index) Get(id string) (*Entry, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.byID[id]
	return e, ok
}

// Page is an answer of Recent.
type Page struct {
	Entries []*Entry
	// Exhausted: the index ran out before the limit and may not hold everything older
	// (the caller asks the store for the rest, older than the last entry).
	Exhausted bool
}

// Recent returns up to f.Limit matching alerts, newest first, older than f.Cursor if set.
func (x *Index) Recent(f *Filter) Page {
	x.mu.RLock()
	defer x.mu.RUnlock()
	end := len(x.sorted)
	if f.Cursor != nil {
		t, id := f.Cursor.Time.UnixMicro(), f.Cursor.ID
		end = sort.Search(len(x.sorted), func(i int) bool { return !x.sorted[i].less(t, id) })
	}
	if !f.Until.IsZero() {
		u := f.Until.UnixMicro()
		end = min(end, sort.Search(len(x.sorted), func(i int) bool { return x.sorted[i].t >= u }))
	}
	var since int64 = -1 << 63
	if !f.Since.IsZero() {
		since = f.Since.UnixMicro()
	}
	out := make([]*Entry, 0, min(f.Limit, 64))
	i := end - 1
	for ; i >= 0 && len(out) < f.Limit; i-- {
		e := x.sorted[i]
		if e.t < since {
			return Page{Entries: out} // everything older is before since: complete
		}
		if f.Matches(e.Alert) {
			out = append(out, e)
		}
	}
	return Page{Entries: out, Exhausted: len(out) < f.Limit && x.truncated}
}

// Oldest returns the (time, id) of the oldest alert held.
func (x *Index) Oldest() (Cursor, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if len(x.sorted) == 0 {
		return Cursor{}, false
	}
	e := x.sorted[0]
	return Cursor{Time: e.Alert.Time, ID: e.Alert.ID}, true
}

// After returns the held alerts strictly newer than c, oldest first (a stream resuming).
func (x *Index) After(c Cursor, limit int) []*Entry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	t, id := c.Time.UnixMicro(), c.ID
	i := sort.Search(len(x.sorted), func(i int) bool {
		e := x.sorted[i]
		return e.t > t || (e.t == t && e.Alert.ID > id)
	})
	n := min(len(x.sorted)-i, limit)
	return append([]*Entry(nil), x.sorted[i:i+n]...)
}

// Snapshot returns every held alert between since and until, newest first (for stats).
func (x *Index) Snapshot(since, until time.Time) []*schemas.AlertEvent {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []*schemas.AlertEvent
	for i := len(x.sorted) - 1; i >= 0; i-- {
		a := x.sorted[i].Alert
		if !since.IsZero() && a.Time.Before(since) {
			break
		}
		if until.IsZero() || a.Time.Before(until) {
			out = append(out, a)
		}
	}
	return out
}

// Truncated reports whether older alerts than held may exist in the store.
func (x *Index) Truncated() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.truncated
}
