package clickhouse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/internal/metrics"
	"github.com/amoskys/amoskys/plugins/warehouse"
)

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

var readRows = metrics.Counter("clickhouse", "read_rows", "Rows read back by the clickhouse input (replay).", "mode")

func init() {
	err := service.RegisterBatchInput(PluginName, inputSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
			return newInput(conf, mgr)
		})
	if err != nil {
		panic(err) // a duplicate plugin name: a wiring bug
	}
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
		readRows.WithLabelValues("query").Add(float64(n))
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
	readRows.WithLabelValues("telemetry").Add(float64(len(evs)))
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
