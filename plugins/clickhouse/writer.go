// Package clickhouse holds the Benthos `clickhouse` output (telemetry, features and alerts into
// the warehouse, bad rows to dead_letter) and input (stored telemetry read back in event-time
// order, for replay). The logic here is plain Go; plugin.go adapts it to Benthos.
package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/schemas"
)

// TableAuto routes every message to its table by type and kind.
const TableAuto = "auto"

// Row statuses counted in amoskys_clickhouse_rows_total{status}.
const (
	StatusInserted   = "inserted"
	StatusDeadLetter = "dead_letter"
	StatusFailed     = "failed"
)

// Item is one message to write: a decoded value, or the error that prevented decoding.
type Item struct {
	Value   any // *schemas.TelemetryEvent, *schemas.FeatureVector or *schemas.AlertEvent
	Err     error
	Payload func() []byte // the message as received, for dead_letter
	// Raw is the message itself, asked for its bytes only when it goes to dead_letter (used
	// when Payload is nil; saves a closure per message).
	Raw interface{ AsBytes() ([]byte, error) }
	// DeadLetter is the reason an earlier stage refused the message (metadata
	// amoskys_dlq_reason): it goes to dead_letter as is, with source "pipeline".
	DeadLetter string
}

// SourcePipeline is dead_letter.source for messages an earlier stage refused.
const SourcePipeline = "pipeline"

// Writer maps items to rows, inserts them table by table and sends what cannot be stored to
// dead_letter with its reason, so the rest of a batch always lands.
type Writer struct {
	W      warehouse.Warehouse
	Table  string           // TableAuto or one table name
	Source string           // dead_letter.source
	Now    func() time.Time // dead_letter.time (processing time)
	// Retry runs op until it succeeds or gives up (backoff); nil runs it once.
	Retry func(ctx context.Context, op func() error) error
	// Count is told how many rows ended in each status; may be nil.
	Count func(status string, n int)
	// Observe is told how long each successful insert into a table took; may be nil.
	Observe func(table string, d time.Duration)
	// Encoder is EncoderTyped (default: telemetry encoded straight from the event when the
	// backend takes RowBinary rows) or EncoderGeneric (every row as []any, the old path).
	Encoder string
	// RowBinary takes the typed rows; nil: the backend's own (warehouse.RowBinaryOf(W)).
	RowBinary warehouse.RowBinaryInserter

	groupOnce sync.Once
	group     *coalescer
}

// coalescer returns the Writer's group commit of typed rows (see coalescer).
func (w *Writer) coalescer(rb warehouse.RowBinaryInserter) *coalescer {
	w.groupOnce.Do(func() {
		w.group = &coalescer{maxBytes: defaultGroupBytes, insert: func(ctx context.Context, table string, data []byte) error {
			return w.retry(ctx, func() error {
				t0 := time.Now()
				err := rb.InsertRowBinary(ctx, table, data)
				if err == nil && w.Observe != nil {
					w.Observe(table, time.Since(t0))
				}
				return err
			})
		}}
	})
	return w.group
}

// Row encoders of the Writer (output field row_encoder).
const (
	EncoderTyped   = "typed"
	EncoderGeneric = "generic"
)

// encodedTable is the typed RowBinary rows of one table in a batch.
type encodedTable struct {
	buf  *[]byte
	rows int
}

// encPool recycles the typed encoder's buffers (a 10k-row host_metrics batch is ~600 KB).
var encPool = sync.Pool{New: func() any { b := make([]byte, 0, 1<<20); return &b }}

// Result says what happened to a batch.
type Result struct {
	Inserted   int
	DeadLetter int
}

type pending struct {
	item  int
	table string
	row   []any
}

func (w *Writer) count(status string, n int) {
	if w.Count != nil && n > 0 {
		w.Count(status, n)
	}
}

func (w *Writer) retry(ctx context.Context, op func() error) error {
	if w.Retry == nil {
		return op()
	}
	return w.Retry(ctx, op)
}

// route maps one value to its table and row.
func (w *Writer) route(v any) (string, []any, error) {
	var table string
	var row []any
	var err error
	switch x := v.(type) {
	case *schemas.TelemetryEvent:
		table, row, err = warehouse.TelemetryRow(x)
	case *schemas.FeatureVector:
		table = warehouse.TableFeatures
		row, err = warehouse.FeaturesRow(x)
	case *schemas.AlertEvent:
		table = warehouse.TableAlerts
		if x != nil && x.RunID != "" {
			table = warehouse.TableAlertsReplay
		}
		row, err = warehouse.AlertRow(x)
	default:
		return "", nil, fmt.Errorf("%w: cannot store a %T", warehouse.ErrBadRow, v)
	}
	if err != nil {
		return "", nil, err
	}
	table, err = w.target(table)
	if err != nil {
		return "", nil, err
	}
	return table, row, nil
}

// target applies the configured table to a row meant for table.
func (w *Writer) target(table string) (string, error) {
	if w.Table != TableAuto && w.Table != "" && w.Table != table {
		if (w.Table == warehouse.TableAlerts || w.Table == warehouse.TableAlertsReplay) && (table == warehouse.TableAlerts || table == warehouse.TableAlertsReplay) {
			return w.Table, nil
		}
		return "", fmt.Errorf("%w: a row for %s cannot go to table %s", warehouse.ErrBadRow, table, w.Table)
	}
	return table, nil
}

// Write stores items. It returns an error only when the warehouse itself failed after retries
// (then nothing may be acknowledged; a retry is safe because inserts are deduplicated by id).
func (w *Writer) Write(ctx context.Context, items []Item) (Result, error) {
	var res Result
	var dead []warehouse.DeadLetter
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	kill := func(it Item, target, id string, reason error) {
		var payload []byte
		if it.Payload != nil {
			payload = it.Payload()
		} else if it.Raw != nil {
			payload, _ = it.Raw.AsBytes()
		}
		source := w.Source
		if it.DeadLetter != "" {
			source = SourcePipeline
		}
		dead = append(dead, warehouse.DeadLetter{Time: now(), Source: source, Target: target,
			Reason: reason.Error(), ID: id, Payload: payload})
	}
	byTable := map[string][]pending{}
	var order []string
	// Telemetry goes straight from the event to RowBinary when the backend takes it; the rows
	// (and so the dedup token) are byte for byte those of the generic path.
	var rb warehouse.RowBinaryInserter
	if w.Encoder != EncoderGeneric {
		if rb = w.RowBinary; rb == nil {
			rb, _ = warehouse.RowBinaryOf(w.W)
		}
	}
	var encoded map[string]*encodedTable
	var encOrder []string
	defer func() {
		for _, e := range encoded {
			if e != nil {
				encPool.Put(e.buf)
			}
		}
	}()
	for i, it := range items {
		if it.DeadLetter != "" {
			kill(it, "", idOf(it.Value), errors.New(it.DeadLetter))
			continue
		}
		if it.Err != nil {
			kill(it, w.Table, "", it.Err)
			continue
		}
		if ev, ok := it.Value.(*schemas.TelemetryEvent); ok && rb != nil {
			table, err := warehouse.CheckTelemetry(ev)
			if err == nil {
				table, err = w.target(table)
			}
			if err != nil {
				kill(it, w.Table, idOf(it.Value), err)
				continue
			}
			e, seen := encoded[table]
			if !seen {
				if encoded == nil {
					encoded = map[string]*encodedTable{}
				}
				if rb.RowBinaryReady(ctx, table) {
					e = &encodedTable{buf: encPool.Get().(*[]byte)}
					*e.buf = (*e.buf)[:0]
					encOrder = append(encOrder, table)
				}
				encoded[table] = e // nil: this table's DDL differs, the generic path serves it
			}
			if e != nil {
				*e.buf = warehouse.AppendTelemetryRowBinary(*e.buf, table, ev)
				e.rows++
				continue
			}
		}
		table, row, err := w.route(it.Value)
		if err != nil {
			kill(it, w.Table, idOf(it.Value), err)
			continue
		}
		if _, ok := byTable[table]; !ok {
			order = append(order, table)
		}
		byTable[table] = append(byTable[table], pending{item: i, table: table, row: row})
	}
	for _, table := range encOrder {
		e := encoded[table]
		if err := w.coalescer(rb).Insert(ctx, table, *e.buf); err != nil {
			w.count(StatusFailed, len(items))
			return res, fmt.Errorf("inserting into %s: %w", table, err)
		}
		res.Inserted += e.rows
	}
	for _, table := range order {
		rows := byTable[table]
		for len(rows) > 0 {
			vals := make([][]any, len(rows))
			for i, p := range rows {
				vals[i] = p.row
			}
			err := w.retry(ctx, func() error {
				t0 := time.Now()
				err := w.W.Insert(ctx, table, warehouse.Columns(table), vals)
				if err == nil && w.Observe != nil {
					w.Observe(table, time.Since(t0))
				}
				var re *warehouse.RowError
				if errors.As(err, &re) {
					return permanent{err}
				}
				return err
			})
			var re *warehouse.RowError
			if errors.As(err, &re) && re.Row >= 0 && re.Row < len(rows) {
				// One row does not fit its columns: dead-letter it, insert the others.
				p := rows[re.Row]
				kill(items[p.item], table, idOf(items[p.item].Value), re)
				rows = append(rows[:re.Row:re.Row], rows[re.Row+1:]...)
				continue
			}
			if err != nil {
				w.count(StatusFailed, len(items))
				return res, fmt.Errorf("inserting into %s: %w", table, err)
			}
			res.Inserted += len(rows)
			break
		}
	}
	if len(dead) > 0 {
		if err := w.retry(ctx, func() error { return warehouse.InsertDeadLetter(ctx, w.W, dead) }); err != nil {
			w.count(StatusFailed, len(items))
			return res, fmt.Errorf("inserting %d dead letters: %w", len(dead), err)
		}
		res.DeadLetter = len(dead)
	}
	w.count(StatusInserted, res.Inserted)
	w.count(StatusDeadLetter, res.DeadLetter)
	return res, nil
}

// permanent marks an error that retrying cannot fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// IsPermanent reports whether err should not be retried.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

func idOf(v any) string {
	switch x := v.(type) {
	case *schemas.TelemetryEvent:
		if x != nil {
			return x.ID
		}
	case *schemas.FeatureVector:
		if x != nil {
			return x.ID
		}
	case *schemas.AlertEvent:
		if x != nil {
			return x.ID
		}
	}
	return ""
}
