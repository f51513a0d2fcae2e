package clickhouse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/clickhouse"
	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/internal/metrics"
	"github.com/amoskys/amoskys/plugins/warehouse"
)

// Plugin name and field names.
const (
	PluginName = "clickhouse"

	fieldDSN       = "dsn"
	fieldTable     = "table"
	fieldMigrate   = "migrate"
	fieldRetention = "retention_days"
	fieldBatching  = "batching"
	fieldBackoff   = "backoff"
	fieldTables    = "tables"
	fieldFrom      = "from"
	fieldTo        = "to"
	fieldHosts     = "hosts"
	fieldBatchSize = "batch_size"
	fieldQuery     = "query"

	defaultDSN = "chdb://./data/warehouse"
)

var rowsTotal = metrics.Counter("clickhouse", "rows", "Rows written by the clickhouse output, by status (inserted, dead_letter, failed).", "status")

func outputSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Stable().
		Categories("Services").
		Summary("Writes AMOSKYS telemetry, feature vectors and alerts into the ClickHouse warehouse (embedded chDB or a server).").
		Description(`Each batch is mapped to rows and inserted with one INSERT per table; a message is acknowledged only after its insert succeeded. A message that cannot become a row (undecodable, missing id, non-finite value, a value that does not fit its column) goes to the dead_letter table with its reason and payload, and the rest of the batch still lands. Transient failures are retried with backoff; a retry never double-counts because every row carries a stable id (identical retried blocks are dropped at insert, and tables are ReplacingMergeTree by id). Rows are counted in amoskys_clickhouse_rows_total{status}.`).
		Field(service.NewStringField(fieldDSN).
			Description("Warehouse DSN: `chdb://PATH` (embedded engine; one process per directory) or `clickhouse://HOST:PORT/DB?secure=true` (credentials from the env vars named by `user_env`/`password_env`, default AMOSKYS_CLICKHOUSE_USER/PASSWORD).").
			Default(defaultDSN).
			Example("${AMOSKYS_WAREHOUSE_DSN:chdb://./data/warehouse}").
			Example("clickhouse://clickhouse:9000/amoskys?secure=true")).
		Field(service.NewStringField(fieldTable).
			Description("Target table, or `auto` to route each message by its type and kind: telemetry to process_events, process_samples, connections, host_metrics, snmp_metrics or devices; feature vectors to features; alerts to alerts (alerts_replay when run_id is set).").
			Default(TableAuto).
			Example("auto").Example("alerts_replay")).
		Field(service.NewBoolField(fieldMigrate).
			Description("Apply the built-in migrations (clickhouse/migrations) when connecting; idempotent.").
			Default(true).Example(false)).
		Field(service.NewIntField(fieldRetention).
			Description("Days of telemetry kept (TTL) when `migrate` creates the tables.").
			Default(warehouse.DefaultRetentionDays).Example(90)).
		Field(service.NewBatchPolicyField(fieldBatching).
			Description("When to flush a batch: by count, byte_size or period. Large batches (10k rows) are much cheaper per row.")).
		Field(service.NewOutputMaxInFlightField().Default(2)).
		Field(service.NewBackOffField(fieldBackoff, false, &backoff.ExponentialBackOff{
			InitialInterval: 200 * time.Millisecond, MaxInterval: 5 * time.Second, MaxElapsedTime: 30 * time.Second}).
			Description("Retries of a failed insert; after max_elapsed_time the batch is refused (nacked) and Benthos delivers it again.")).
		LintRule(`root = if this.table != "auto" && !["process_events","process_samples","connections","host_metrics","snmp_metrics","devices","features","alerts","alerts_replay"].contains(this.table) { ["table must be auto or one of the AMOSKYS tables"] }`).
		Example("Telemetry into the embedded warehouse", "Batches of 10k rows or every second.", `
output:
  clickhouse:
    dsn: ${AMOSKYS_WAREHOUSE_DSN:chdb://./data/warehouse}
    table: auto
    batching:
      count: 10000
      period: 1s
`)
}

type output struct {
	dsn       string
	migrate   bool
	retention int
	boff      *backoff.ExponentialBackOff
	table     string
	log       *service.Logger

	mu sync.Mutex
	w  warehouse.Warehouse
	wr *Writer
}

func init() {
	err := service.RegisterBatchOutput(PluginName, outputSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchOutput, service.BatchPolicy, int, error) {
			o, err := newOutput(conf, mgr)
			if err != nil {
				return nil, service.BatchPolicy{}, 0, err
			}
			pol, err := conf.FieldBatchPolicy(fieldBatching)
			if err != nil {
				return nil, service.BatchPolicy{}, 0, err
			}
			mif, err := conf.FieldMaxInFlight()
			if err != nil {
				return nil, service.BatchPolicy{}, 0, err
			}
			return o, pol, mif, nil
		})
	if err != nil {
		panic(err)
	}
	err = service.RegisterBatchInput(PluginName, inputSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
			return newInput(conf, mgr)
		})
	if err != nil {
		panic(err)
	}
}

func newOutput(conf *service.ParsedConfig, mgr *service.Resources) (*output, error) {
	o := &output{log: mgr.Logger()}
	var err error
	if o.dsn, err = conf.FieldString(fieldDSN); err != nil {
		return nil, err
	}
	if _, err := warehouse.ParseDSN(o.dsn); err != nil {
		return nil, err
	}
	if o.table, err = conf.FieldString(fieldTable); err != nil {
		return nil, err
	}
	if o.migrate, err = conf.FieldBool(fieldMigrate); err != nil {
		return nil, err
	}
	if o.retention, err = conf.FieldInt(fieldRetention); err != nil {
		return nil, err
	}
	if o.retention < 1 || o.retention > 36500 {
		return nil, fmt.Errorf("%s %d: want 1..36500", fieldRetention, o.retention)
	}
	if o.boff, err = conf.FieldBackOff(fieldBackoff); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *output) Connect(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.w != nil {
		return nil
	}
	w, err := warehouse.Open(ctx, o.dsn)
	if err != nil {
		return err
	}
	if o.migrate {
		if err := warehouse.Migrate(ctx, w, clickhouse.Migrations(), warehouse.WithRetentionDays(o.retention)); err != nil {
			_ = w.Close()
			return err
		}
	}
	o.w = w
	o.wr = &Writer{W: w, Table: o.table, Source: "clickhouse_output", Retry: o.retry,
		Count: func(status string, n int) { rowsTotal.WithLabelValues(status).Add(float64(n)) }}
	return nil
}

// retry runs op with a fresh copy of the configured backoff (batches run concurrently).
func (o *output) retry(ctx context.Context, op func() error) error {
	b := *o.boff
	b.Reset()
	for {
		err := op()
		if err == nil || IsPermanent(err) {
			return err
		}
		d := b.NextBackOff()
		if d == backoff.Stop {
			return err
		}
		o.log.Warnf("clickhouse insert failed, retrying in %s: %v", d, err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
	}
}

// Items decodes a Benthos batch into writer items (decode once: structured messages are reused).
func Items(batch service.MessageBatch) []Item {
	items := make([]Item, len(batch))
	for i, msg := range batch {
		payload := func() []byte {
			b, _ := msg.AsBytes()
			return b
		}
		var v any
		var err error
		switch t := envelope.Type(msg); t {
		case envelope.TypeTelemetry:
			v, err = envelope.Event(msg)
		case envelope.TypeFeatures:
			v, err = envelope.Features(msg)
		case envelope.TypeAlert:
			v, err = envelope.Alert(msg)
		default:
			err = fmt.Errorf("unknown message type %q", t)
		}
		items[i] = Item{Value: v, Err: err, Payload: payload}
	}
	return items
}

func (o *output) WriteBatch(ctx context.Context, batch service.MessageBatch) error {
	o.mu.Lock()
	wr := o.wr
	o.mu.Unlock()
	if wr == nil {
		return service.ErrNotConnected
	}
	res, err := wr.Write(ctx, Items(batch))
	if err != nil {
		return err
	}
	if res.DeadLetter > 0 {
		o.log.Debugf("clickhouse: %d rows inserted, %d sent to dead_letter", res.Inserted, res.DeadLetter)
	}
	return nil
}

func (o *output) Close(context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.w == nil {
		return nil
	}
	err := o.w.Close()
	o.w, o.wr = nil, nil
	return err
}

func inputSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Stable().
		Categories("Services").
		Summary("Reads stored telemetry back from the ClickHouse warehouse in event-time order (replay).").
		Description("Telemetry tables are paged by their (time, id) cursor and merged, so events come out ordered by event time whatever table they live in, as TelemetryEvent messages (metadata amoskys_type=telemetry), in batches of `batch_size`. With `query`, each result row is one JSON message instead. The input ends when everything was read.").
		Field(service.NewStringField(fieldDSN).
			Description("Warehouse DSN (see the clickhouse output).").
			Default(defaultDSN).
			Example("${AMOSKYS_WAREHOUSE_DSN:chdb://./data/warehouse}")).
		Field(service.NewStringListField(fieldTables).
			Description("Telemetry tables to read; empty reads all of them.").
			Default([]any{}).
			Example([]string{"process_events", "connections"})).
		Field(service.NewStringField(fieldFrom).
			Description("Start of the event-time range (inclusive), RFC 3339; empty: from the first event.").
			Default("").Example("2026-11-20T00:00:00Z")).
		Field(service.NewStringField(fieldTo).
			Description("End of the event-time range (exclusive), RFC 3339; empty: to the last event.").
			Default("").Example("2026-11-21T00:00:00Z")).
		Field(service.NewStringListField(fieldHosts).
			Description("Hosts to read; empty reads every host.").
			Default([]any{}).Example([]string{"web-1", "db-1"})).
		Field(service.NewIntField(fieldBatchSize).
			Description("Rows per page and per emitted batch.").
			Default(10000).Example(1000)).
		Field(service.NewStringField(fieldQuery).
			Description("A read query (checked read-only) whose rows are emitted as JSON messages instead of telemetry; `tables`, `from`, `to` and `hosts` are then ignored.").
			Default("").Example("SELECT host, count() AS n FROM process_events GROUP BY host")).
		Example("Replay one day of one host", "", `
input:
  clickhouse:
    dsn: ${AMOSKYS_WAREHOUSE_DSN:chdb://./data/warehouse}
    from: "2026-11-20T00:00:00Z"
    to: "2026-11-21T00:00:00Z"
    hosts: [ web-1 ]
`)
}

type input struct {
	dsn   string
	query string
	r     *Reader

	w    warehouse.Warehouse
	rows [][]byte // query mode: pending rows
	ran  bool
}

func parseTime(conf *service.ParsedConfig, field string) (time.Time, error) {
	s, err := conf.FieldString(field)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want RFC 3339, e.g. 2026-11-20T00:00:00Z", field, s)
	}
	return t, nil
}

func newInput(conf *service.ParsedConfig, _ *service.Resources) (*input, error) {
	in := &input{r: &Reader{}}
	var err error
	if in.dsn, err = conf.FieldString(fieldDSN); err != nil {
		return nil, err
	}
	if _, err := warehouse.ParseDSN(in.dsn); err != nil {
		return nil, err
	}
	if in.r.Tables, err = conf.FieldStringList(fieldTables); err != nil {
		return nil, err
	}
	for _, t := range in.r.Tables {
		if _, err := warehouse.TelemetryQuery(t, time.Time{}, time.Time{}, nil, time.Time{}, "", 1); err != nil {
			return nil, err
		}
	}
	if in.r.From, err = parseTime(conf, fieldFrom); err != nil {
		return nil, err
	}
	if in.r.To, err = parseTime(conf, fieldTo); err != nil {
		return nil, err
	}
	if !in.r.From.IsZero() && !in.r.To.IsZero() && !in.r.From.Before(in.r.To) {
		return nil, fmt.Errorf("from %s is not before to %s", in.r.From.Format(time.RFC3339), in.r.To.Format(time.RFC3339))
	}
	if in.r.Hosts, err = conf.FieldStringList(fieldHosts); err != nil {
		return nil, err
	}
	if in.r.BatchSize, err = conf.FieldInt(fieldBatchSize); err != nil {
		return nil, err
	}
	if in.r.BatchSize < 1 || in.r.BatchSize > 1_000_000 {
		return nil, fmt.Errorf("%s %d: want 1..1000000", fieldBatchSize, in.r.BatchSize)
	}
	if in.query, err = conf.FieldString(fieldQuery); err != nil {
		return nil, err
	}
	if in.query != "" {
		if err := warehouse.CheckReadOnly(in.query); err != nil {
			return nil, fmt.Errorf("%s: %w", fieldQuery, err)
		}
	}
	return in, nil
}

func (in *input) Connect(ctx context.Context) error {
	if in.w != nil {
		return nil
	}
	w, err := warehouse.Open(ctx, in.dsn)
	if err != nil {
		return err
	}
	in.w, in.r.W = w, w
	return nil
}

func (in *input) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	if in.w == nil {
		return nil, nil, service.ErrNotConnected
	}
	noop := func(context.Context, error) error { return nil }
	if in.query != "" {
		if !in.ran {
			out, err := in.w.Query(ctx, in.query, "JSONEachRow")
			if err != nil {
				return nil, nil, err
			}
			in.ran = true
			sc := bufio.NewScanner(bytes.NewReader(out))
			sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
			for sc.Scan() {
				in.rows = append(in.rows, append([]byte(nil), sc.Bytes()...))
			}
		}
		if len(in.rows) == 0 {
			return nil, nil, service.ErrEndOfInput
		}
		n := min(len(in.rows), in.r.BatchSize)
		batch := make(service.MessageBatch, n)
		for i := range batch {
			batch[i] = service.NewMessage(in.rows[i])
		}
		in.rows = in.rows[n:]
		return batch, noop, nil
	}
	evs, err := in.r.Next(ctx)
	if errors.Is(err, io.EOF) {
		return nil, nil, service.ErrEndOfInput
	}
	if err != nil {
		return nil, nil, err
	}
	batch := make(service.MessageBatch, len(evs))
	for i, ev := range evs {
		batch[i] = envelope.NewEvent(ev)
	}
	return batch, noop, nil
}

func (in *input) Close(context.Context) error {
	if in.w == nil {
		return nil
	}
	err := in.w.Close()
	in.w = nil
	return err
}
