package clickhouse_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/envelope"
	chplugin "github.com/amoskys/amoskys/plugins/clickhouse"
	"github.com/amoskys/amoskys/plugins/warehouse"
)

// BenchmarkOutput measures telemetry rows through the Benthos clickhouse output into chDB in
// batches of 10k, beside the direct insert (no Benthos) of the same rows in the same run.
func BenchmarkOutput(b *testing.B) {
	w := needCHDB(b)
	const batch, batches = 10_000, 10
	b.Run("direct_insert", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			evs := chplugin.BenchEvents(fmt.Sprintf("%s-d%d", b.Name(), i), batch*batches)
			b.StartTimer()
			for j := 0; j < len(evs); j += batch {
				if err := warehouse.InsertTelemetry(b.Context(), w, evs[j:j+batch]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
		}
		b.ReportMetric(float64(b.N*batch*batches)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("benthos_output", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			evs := chplugin.BenchEvents(fmt.Sprintf("%s-o%d", b.Name(), i), batch*batches)
			var bs []service.MessageBatch
			for j := 0; j < len(evs); j += batch {
				mb := make(service.MessageBatch, 0, batch)
				for _, ev := range evs[j : j+batch] {
					mb = append(mb, envelope.NewEvent(ev))
				}
				bs = append(bs, mb)
			}
			b.StartTimer()
			runOutput(b, fmt.Sprintf("clickhouse:\n  dsn: %q\n  batching:\n    count: %d\n", testDSN, batch), bs)
			b.StopTimer()
		}
		b.ReportMetric(float64(b.N*batch*batches)/b.Elapsed().Seconds(), "rows/s")
	})
}

// discardRB takes typed rows and drops them: the Go side of the output alone.
type discardRB struct{}

func (discardRB) RowBinaryReady(context.Context, string) bool           { return true }
func (discardRB) InsertRowBinary(context.Context, string, []byte) error { return nil }

// BenchmarkItemsWrite is the output's own Go work per 10k-row batch (decode from the message,
// check, typed encode), without Benthos and without the engine.
func BenchmarkItemsWrite(b *testing.B) {
	evs := chplugin.BenchEvents("items", 10_000)
	batch := make(service.MessageBatch, len(evs))
	for i, ev := range evs {
		batch[i] = envelope.NewEvent(ev)
	}
	wr := &chplugin.Writer{W: nil, Table: chplugin.TableAuto, RowBinary: discardRB{}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wr.Write(b.Context(), chplugin.Items(batch)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/row")
}
