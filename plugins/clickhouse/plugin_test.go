package clickhouse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/internal/metrics"
	_ "github.com/amoskys/amoskys/plugins/clickhouse"
	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/plugins/warehouse/warehousetest"
	"github.com/amoskys/amoskys/schemas"
)

// runOutput pushes batches through a stream ending in the clickhouse output.
func runOutput(t testing.TB, yaml string, batches []service.MessageBatch) {
	t.Helper()
	sb := service.NewStreamBuilder()
	sb.SetLoggerYAML("level: warn")
	require.NoError(t, sb.SetMetricsYAML("none: {}"))
	send, err := sb.AddBatchProducerFunc()
	require.NoError(t, err)
	require.NoError(t, sb.AddOutputYAML(yaml))
	stream, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- stream.Run(ctx) }()
	for _, b := range batches {
		require.NoError(t, send(ctx, b), "a batch is acknowledged only after its insert")
	}
	require.NoError(t, stream.Stop(ctx))
	<-done
}

func TestOutputStream(t *testing.T) {
	w := needCHDB(t)
	host := warehousetest.Host(t)
	var batch service.MessageBatch
	for _, ev := range warehousetest.Events(host) {
		batch = append(batch, envelope.NewEvent(ev))
	}
	raw, _ := json.Marshal(warehousetest.Events(host)[0])
	broken := `{"id": "` + host // broken JSON
	batch = append(batch, service.NewMessage([]byte(broken)))
	evCopy := *warehousetest.Events(host)[0]
	evCopy.ID = host + "-json"
	raw, _ = json.Marshal(&evCopy)
	batch = append(batch, service.NewMessage(raw)) // JSON bytes, decoded by the output
	fv := &schemas.FeatureVector{SchemaVersion: 1, ID: host + "-fv", Host: host, KeyKind: "host", Key: "host", Window: "1m",
		Start: warehousetest.Base, End: warehousetest.Base.Add(time.Minute), Names: []string{"a"}, Values: []float64{1}}
	batch = append(batch, envelope.NewFeatures(fv))
	al := &schemas.AlertEvent{SchemaVersion: 1, ID: host + "-al", Time: warehousetest.Base, Host: host, Severity: schemas.SeverityLow, Version: 1}
	batch = append(batch, envelope.NewAlert(al))
	refused := service.NewMessage([]byte(`{"kind":"process_exec","id":"` + host + `-refused"}`))
	refused.MetaSetMut(envelope.MetaDLQ, "normalise: "+host+": missing host")
	refused.MetaSetMut(envelope.MetaType, "dead_letter")
	batch = append(batch, refused)
	runOutput(t, fmt.Sprintf(`
clickhouse:
  dsn: %q
  batching:
    count: 5
`, testDSN), []service.MessageBatch{batch})
	require.Len(t, warehousetest.ReadBack(t, w, host), len(warehousetest.Events(host))+1)
	require.Equal(t, 1, count(t, w, "SELECT count() FROM features WHERE host = "+warehouse.Quote(host)))
	require.Equal(t, 1, count(t, w, "SELECT count() FROM alerts WHERE host = "+warehouse.Quote(host)))
	require.Equal(t, 1, count(t, w, "SELECT count() FROM dead_letter WHERE source = 'clickhouse_output' AND payload = "+warehouse.Quote(broken)))
	require.Equal(t, 1, count(t, w, "SELECT count() FROM dead_letter WHERE source = 'pipeline' AND reason = "+warehouse.Quote("normalise: "+host+": missing host")+" AND payload LIKE '%-refused%'"))
}

func TestOutputConfigErrors(t *testing.T) {
	for yaml, want := range map[string]string{
		"clickhouse:\n  dsn: mysql://x\n":                       "unknown scheme",
		"clickhouse:\n  table: nope\n":                          "table must be auto",
		"clickhouse:\n  retention_days: 0\n":                    "retention_days 0",
		"clickhouse:\n  dsn: clickhouse://u:pw@h/db\n":          "credentials in the DSN are refused",
		"clickhouse:\n  batching:\n    count: -1\n  bogus: 1\n": "bogus",
	} {
		sb := service.NewStreamBuilder()
		sb.SetLoggerYAML("level: none")
		err := sb.AddOutputYAML(yaml)
		if err == nil {
			_, err = sb.AddProducerFunc()
			require.NoError(t, err)
			var stream *service.Stream
			if stream, err = sb.Build(); err == nil {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				err = stream.Run(ctx)
				cancel()
			}
		}
		require.ErrorContains(t, err, want, yaml)
	}
}

func TestInputReplaysInEventTimeOrder(t *testing.T) {
	w := needCHDB(t)
	host := warehousetest.Host(t)
	// Interleave kinds so that event time order crosses tables.
	var evs []*schemas.TelemetryEvent
	for i := range 57 {
		ev := warehousetest.Events(host)[i%8]
		c := *ev
		c.ID = fmt.Sprintf("%s-%03d", host, i)
		c.Time = warehousetest.Base.Add(time.Duration(57-i) * time.Second) // stored newest first
		evs = append(evs, &c)
	}
	require.NoError(t, warehouse.InsertTelemetry(t.Context(), w, evs))

	sb := service.NewStreamBuilder()
	sb.SetLoggerYAML("level: warn")
	require.NoError(t, sb.AddInputYAML(fmt.Sprintf(`
clickhouse:
  dsn: %q
  hosts: [ %q ]
  from: %q
  batch_size: 7
`, testDSN, host, warehousetest.Base.Add(2*time.Second).Format(time.RFC3339Nano))))
	var mu sync.Mutex
	var got []*schemas.TelemetryEvent
	require.NoError(t, sb.AddBatchConsumerFunc(func(_ context.Context, b service.MessageBatch) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range b {
			ev, err := envelope.Event(m)
			if err != nil {
				return err
			}
			got = append(got, ev)
		}
		return nil
	}))
	stream, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	require.NoError(t, stream.Run(ctx))
	require.Len(t, got, 56, "events from Base+2s on")
	for i := 1; i < len(got); i++ {
		require.True(t, got[i-1].Time.Before(got[i].Time), "event-time order at %d", i)
	}
	kinds := map[schemas.Kind]bool{}
	for _, ev := range got {
		kinds[ev.Kind] = true
	}
	require.Len(t, kinds, 8)
}

func TestInputConfigErrors(t *testing.T) {
	for yaml, want := range map[string]string{
		"clickhouse:\n  tables: [ alerts ]\n":                                     "not a telemetry table",
		"clickhouse:\n  from: yesterday\n":                                        "want RFC 3339",
		"clickhouse:\n  from: 2026-01-02T00:00:00Z\n  to: 2026-01-01T00:00:00Z\n": "is not before",
		"clickhouse:\n  batch_size: 0\n":                                          "batch_size 0",
		"clickhouse:\n  query: DROP TABLE alerts\n":                               "only read queries",
	} {
		sb := service.NewStreamBuilder()
		sb.SetLoggerYAML("level: none")
		err := sb.AddInputYAML(yaml)
		if err == nil {
			require.NoError(t, sb.AddConsumerFunc(func(context.Context, *service.Message) error { return nil }))
			var stream *service.Stream
			if stream, err = sb.Build(); err == nil {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				err = stream.Run(ctx)
				cancel()
			}
		}
		require.ErrorContains(t, err, want, yaml)
	}
}

func TestInputQueryMode(t *testing.T) {
	needCHDB(t)
	sb := service.NewStreamBuilder()
	sb.SetLoggerYAML("level: warn")
	require.NoError(t, sb.AddInputYAML(fmt.Sprintf("clickhouse:\n  dsn: %q\n  query: SELECT number AS n FROM system.numbers LIMIT 5\n  batch_size: 2\n", testDSN)))
	var got []string
	require.NoError(t, sb.AddConsumerFunc(func(_ context.Context, m *service.Message) error {
		b, _ := m.AsBytes()
		got = append(got, string(b))
		return nil
	}))
	stream, err := sb.Build()
	require.NoError(t, err)
	require.NoError(t, stream.Run(t.Context()))
	require.Equal(t, []string{`{"n":0}`, `{"n":1}`, `{"n":2}`, `{"n":3}`, `{"n":4}`}, got)
}

func TestOutputMetrics(t *testing.T) {
	needCHDB(t)
	host := warehousetest.Host(t)
	before := testutil.ToFloat64(metricsRows("inserted"))
	var batch service.MessageBatch
	for _, ev := range warehousetest.Events(host) {
		batch = append(batch, envelope.NewEvent(ev))
	}
	runOutput(t, fmt.Sprintf("clickhouse:\n  dsn: %q\n", testDSN), []service.MessageBatch{batch})
	require.Equal(t, float64(len(batch)), testutil.ToFloat64(metricsRows("inserted"))-before)
	mfs, err := metrics.Registry.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	require.True(t, names["amoskys_clickhouse_rows_total"])
	require.True(t, names["amoskys_clickhouse_insert_seconds"])
}

func metricsRows(status string) prometheus.Collector {
	return metrics.Counter("clickhouse", "rows", "", "status").WithLabelValues(status)
}
