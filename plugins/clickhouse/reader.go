package clickhouse

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/schemas"
)

// Reader reads stored telemetry in event-time order across tables: each table is paged by
// its (time, id) cursor and the pages are merged, so memory stays at one page per table.
type Reader struct {
	W         warehouse.Warehouse
	Tables    []string
	From, To  time.Time // [From, To); zero: unbounded
	Hosts     []string  // empty: every host
	BatchSize int

	cur []*tableCursor
}

type tableCursor struct {
	table   string
	buf     []*schemas.TelemetryEvent
	lastT   time.Time
	lastID  string
	started bool
	done    bool
}

func (r *Reader) init() error {
	if r.cur != nil {
		return nil
	}
	if r.BatchSize <= 0 {
		r.BatchSize = 10000
	}
	tables := r.Tables
	if len(tables) == 0 {
		tables = warehouse.TelemetryTables
	}
	for _, t := range tables {
		if _, err := warehouse.TelemetryQuery(t, r.From, r.To, nil, time.Time{}, "", 1); err != nil {
			return err
		}
		r.cur = append(r.cur, &tableCursor{table: t})
	}
	return nil
}

func (r *Reader) fill(ctx context.Context, c *tableCursor) error {
	if c.done || len(c.buf) > 0 {
		return nil
	}
	q, err := warehouse.TelemetryQuery(c.table, r.From, r.To, r.Hosts, c.lastT, c.lastID, r.BatchSize)
	if err != nil {
		return err
	}
	if !c.started {
		// The first page has no cursor yet: lastT is zero, which TelemetryQuery reads as none.
		c.started = true
	}
	out, err := r.W.Query(ctx, q, "JSONEachRow")
	if err != nil {
		return fmt.Errorf("reading %s: %w", c.table, err)
	}
	evs, err := warehouse.DecodeTelemetry(c.table, out)
	if err != nil {
		return err
	}
	if len(evs) < r.BatchSize {
		c.done = true
	}
	if len(evs) > 0 {
		last := evs[len(evs)-1]
		c.lastT, c.lastID = last.Time, last.ID
		if c.lastT.IsZero() {
			c.lastT = time.Unix(0, 1) // keep the cursor set for epoch-time rows
		}
	}
	c.buf = evs
	return nil
}

// Next returns up to BatchSize events in (time, id) order; io.EOF when everything was read.
func (r *Reader) Next(ctx context.Context) ([]*schemas.TelemetryEvent, error) {
	if err := r.init(); err != nil {
		return nil, err
	}
	var out []*schemas.TelemetryEvent
	for len(out) < r.BatchSize {
		var best *tableCursor
		for _, c := range r.cur {
			if err := r.fill(ctx, c); err != nil {
				return nil, err
			}
			if len(c.buf) == 0 {
				continue
			}
			if best == nil || less(c.buf[0], best.buf[0]) {
				best = c
			}
		}
		if best == nil {
			break
		}
		out = append(out, best.buf[0])
		best.buf = best.buf[1:]
	}
	if len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

func less(a, b *schemas.TelemetryEvent) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	return a.ID < b.ID
}
