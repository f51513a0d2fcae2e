package clickhouse

import (
	"context"
	"sync"
	"sync/atomic"
)

// Group commit counters of the process: INSERTs made and batches they held (the benchmark
// prints the mean group size).
var groupInserts, groupBatches atomic.Int64

// GroupStats returns how many group INSERTs were made and how many batches they held.
func GroupStats() (inserts, batches int64) { return groupInserts.Load(), groupBatches.Load() }

// coalescer is a group commit of typed telemetry rows: the rows of batches written concurrently
// for the same table go to the warehouse as one INSERT. Every INSERT makes a part that the engine
// merges again later, and merging costs more than inserting: on this machine 10k-row inserts
// cost ~3.8 µs of CPU per row (2.5 of it merges), 100k-row inserts ~1.7
// (docs/benchmarks/warehouse.md). One INSERT per table runs at a time; batches that arrive
// meanwhile form the next group, so groups grow with the load and a lone batch is not delayed.
//
// Guarantees: a caller returns only when the INSERT holding its rows succeeded or was given up
// (at-least-once: its messages are acknowledged only then). A failed group is retried as the
// same group, with the same bytes and so the same deduplication token: a retry that follows an
// insert which landed but reported failure is dropped by the engine. A group of one batch is
// that batch's bytes, exactly what an uncoalesced insert sends.
type coalescer struct {
	// insert writes one group (with the retries and backoff of the output).
	insert func(ctx context.Context, table string, data []byte) error
	// maxBytes bounds a group (at least one batch always goes).
	maxBytes int

	mu     sync.Mutex
	tables map[string]*tableQueue
}

type tableQueue struct {
	pending []*groupReq
	running bool
}

type groupReq struct {
	ctx  context.Context
	data []byte
	done chan error
}

// defaultGroupBytes bounds a group: ~170k host_metrics rows.
const defaultGroupBytes = 10 << 20

// Insert hands data (whole RowBinary rows of table) to the table's group commit and waits for
// the INSERT that holds it. data must stay untouched until Insert returns. The group's INSERT
// and its retries run under the context of the group's first batch (cancelled at shutdown: the
// whole group then fails and is delivered again).
func (c *coalescer) Insert(ctx context.Context, table string, data []byte) error {
	r := &groupReq{ctx: ctx, data: data, done: make(chan error, 1)}
	c.mu.Lock()
	if c.tables == nil {
		c.tables = map[string]*tableQueue{}
	}
	q := c.tables[table]
	if q == nil {
		q = &tableQueue{}
		c.tables[table] = q
	}
	q.pending = append(q.pending, r)
	if !q.running {
		q.running = true
		go c.lead(table, q)
	}
	c.mu.Unlock()
	// Not abandoned on cancellation: the leader may be reading data, and the INSERT, once
	// started, runs to its end in the engine anyway (the retries are bounded by the backoff).
	return <-r.done
}

// lead inserts the pending groups of one table until none is left.
func (c *coalescer) lead(table string, q *tableQueue) {
	var buf []byte
	for {
		c.mu.Lock()
		if len(q.pending) == 0 {
			q.running = false
			c.mu.Unlock()
			return
		}
		n, size := 0, 0
		for n < len(q.pending) && (n == 0 || size+len(q.pending[n].data) <= c.maxBytes) {
			size += len(q.pending[n].data)
			n++
		}
		group := append([]*groupReq(nil), q.pending[:n]...)
		q.pending = append(q.pending[:0], q.pending[n:]...)
		c.mu.Unlock()

		data := group[0].data
		if len(group) > 1 {
			buf = buf[:0]
			for _, r := range group {
				buf = append(buf, r.data...)
			}
			data = buf
		}
		groupInserts.Add(1)
		groupBatches.Add(int64(len(group)))
		err := c.insert(group[0].ctx, table, data)
		for _, r := range group {
			r.done <- err
		}
	}
}
