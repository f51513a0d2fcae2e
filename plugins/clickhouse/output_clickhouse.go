package clickhouse

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/clickhouse"
	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/internal/metrics"
	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/schemas"
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
	fieldEncoder   = "row_encoder"

	defaultDSN = "chdb://./data/warehouse"

	// defaultMaxInFlight batches are written at once; concurrent batches of telemetry share one
	// INSERT per table (group commit, see coalescer), so more in flight means bigger parts and
	// less merging (2 in flight: every 10k batch its own part, ~2x the CPU per row). Memory: up
	// to this many batches are held until their INSERT lands.
	defaultMaxInFlight = 16
)

// TypeDeadLetter is the amoskys_type pipelines give a message on its way to dead_letter.
const TypeDeadLetter = "dead_letter"

var (
	rowsTotal     = metrics.Counter("clickhouse", "rows", "Rows written by the clickhouse output, by status (inserted, dead_letter, failed).", "status")
	insertSeconds = metrics.Histogram("clickhouse", "insert", "Time of one successful INSERT of the clickhouse output, by table.",
		[]float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "table")
)

func outputSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Stable().
		Categories("Services").
		Summary("Writes AMOSKYS telemetry, feature vectors and alerts into the ClickHouse warehouse (embedded chDB or a server).").
		Description(`Messages with metadata amoskys_dlq_reason (or amoskys_type "dead_letter") go to dead_letter with that reason and source "pipeline". Each batch is mapped to rows and inserted with one INSERT per table; a message is acknowledged only after its insert succeeded. A message that cannot become a row (undecodable, missing id, non-finite value, a value that does not fit its column) goes to the dead_letter table with its reason and payload, and the rest of the batch still lands. Transient failures are retried with backoff; a retry never double-counts because every row carries a stable id (identical retried blocks are dropped at insert, and tables are ReplacingMergeTree by id). Rows are counted in amoskys_clickhouse_rows_total{status}.`).
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
		Field(service.NewStringEnumField(fieldEncoder, EncoderTyped, EncoderGeneric).
			Description("How telemetry rows are encoded for the embedded warehouse: `typed` writes each event straight to RowBinary (no per-value boxing; the same bytes and dedup token as `generic`), `generic` maps every row to Go values first (the older, slower path, kept as the benchmark baseline). Feature vectors, alerts and the server backend always use the generic path.").
			Default(EncoderTyped).Advanced().Example(EncoderGeneric)).
		Field(service.NewBatchPolicyField(fieldBatching).
			Description("When to flush a batch: by count, byte_size or period. Large batches (10k rows) are much cheaper per row.")).
		Field(service.NewOutputMaxInFlightField().Default(defaultMaxInFlight)).
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
	encoder   string
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
	if o.encoder, err = conf.FieldString(fieldEncoder); err != nil {
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
	o.wr = &Writer{W: w, Table: o.table, Source: "clickhouse_output", Retry: o.retry, Encoder: o.encoder,
		Count:   func(status string, n int) { rowsTotal.WithLabelValues(status).Add(float64(n)) },
		Observe: func(table string, d time.Duration) { insertSeconds.WithLabelValues(table).Observe(d.Seconds()) }}
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
		var v any
		var err error
		t := envelope.Type(msg)
		if reason, ok := msg.MetaGetMut(envelope.MetaDLQ); ok || t == TypeDeadLetter {
			r := fmt.Sprint(reason)
			if !ok || r == "" {
				r = "refused by an earlier stage (no reason given)"
			}
			items[i] = Item{DeadLetter: r, Raw: msg}
			continue
		}
		switch t {
		case envelope.TypeTelemetry:
			// The type is known: take the structured event without a second metadata lookup.
			if st, serr := msg.AsStructured(); serr == nil {
				if ev, ok := st.(*schemas.TelemetryEvent); ok {
					v = ev
					break
				}
			}
			v, err = envelope.Event(msg)
		case envelope.TypeFeatures:
			v, err = envelope.Features(msg)
		case envelope.TypeAlert:
			v, err = envelope.Alert(msg)
		default:
			err = fmt.Errorf("unknown message type %q", t)
		}
		items[i] = Item{Value: v, Err: err, Raw: msg}
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
