package clickhouse_test

import (
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
