package alertstore

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/amoskys/amoskys/schemas"
)

// StatusChange is a lifecycle change made through the API.
type StatusChange struct {
	ID      string
	Status  schemas.AlertStatus
	By      string
	At      time.Time
	Version uint64
}

// Hub fans alerts out inside one process: the alert processor publishes every alert it emits,
// the API's live stream and recent-alerts index subscribe. Status changes made by the API flow the
// other way, so the processor's later updates keep an acknowledgement. Publishing never blocks:
// a subscriber that falls behind by its buffer is closed (counted) and resumes from the store.
type Hub struct {
	mu       sync.RWMutex
	subs     map[*Subscription]struct{}
	statusFn map[int]func(StatusChange)
	pubFn    map[int]func(*schemas.AlertEvent)
	nextFn   int
	dropped  atomic.Int64
	seq      atomic.Uint64
}

// Subscription receives alerts on C until closed by Cancel or by falling behind.
type Subscription struct {
	C      <-chan *schemas.AlertEvent
	c      chan *schemas.AlertEvent
	hub    *Hub
	closed bool
}

// Default is the process-wide hub.
var Default = NewHub()

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{subs: map[*Subscription]struct{}{}, statusFn: map[int]func(StatusChange){},
		pubFn: map[int]func(*schemas.AlertEvent){}}
}

// Subscribe returns a subscription with a buffer of buf alerts.
func (h *Hub) Subscribe(buf int) *Subscription {
	c := make(chan *schemas.AlertEvent, buf)
	s := &Subscription{C: c, c: c, hub: h}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Cancel ends the subscription; C is closed.
func (s *Subscription) Cancel() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.close()
}

func (s *Subscription) close() {
	if !s.closed {
		s.closed = true
		close(s.c)
		delete(s.hub.subs, s)
	}
}

// Publish hands a to every subscriber; the alert must not be changed afterwards.
func (h *Hub) Publish(a *schemas.AlertEvent) {
	h.seq.Add(1)
	h.mu.RLock()
	for _, fn := range h.pubFn {
		fn(a) // synchronous listeners (the recent index) never miss an alert
	}
	var slow []*Subscription
	for s := range h.subs {
		select {
		case s.c <- a:
		default:
			slow = append(slow, s)
		}
	}
	h.mu.RUnlock()
	if len(slow) > 0 {
		h.mu.Lock()
		for _, s := range slow {
			s.close()
			h.dropped.Add(1)
		}
		h.mu.Unlock()
	}
}

// Published returns how many alerts went through the hub.
func (h *Hub) Published() uint64 { return h.seq.Load() }

// Dropped returns how many subscribers were closed for falling behind.
func (h *Hub) Dropped() int64 { return h.dropped.Load() }

// Subscribers returns the number of live subscriptions.
func (h *Hub) Subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs)
}

// OnStatus registers fn for status changes; the returned func unregisters it.
func (h *Hub) OnStatus(fn func(StatusChange)) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := h.nextFn
	h.nextFn++
	h.statusFn[id] = fn
	return func() {
		h.mu.Lock()
		delete(h.statusFn, id)
		h.mu.Unlock()
	}
}

// OnPublish registers fn to run inside every Publish (keep it fast, it must not call the hub);
// the returned func unregisters it.
func (h *Hub) OnPublish(fn func(*schemas.AlertEvent)) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := h.nextFn
	h.nextFn++
	h.pubFn[id] = fn
	return func() {
		h.mu.Lock()
		delete(h.pubFn, id)
		h.mu.Unlock()
	}
}

// StatusChanged tells every OnStatus listener about c.
func (h *Hub) StatusChanged(c StatusChange) {
	h.mu.RLock()
	fns := make([]func(StatusChange), 0, len(h.statusFn))
	for _, fn := range h.statusFn {
		fns = append(fns, fn)
	}
	h.mu.RUnlock()
	for _, fn := range fns {
		fn(c)
	}
}
