package warehouse_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/plugins/warehouse/warehousetest"
	"github.com/amoskys/amoskys/schemas"
)

// BenchEvents makes n host_metric events (8 columns) with distinct ids.
func benchEvents(host string, n int) []*schemas.TelemetryEvent {
	evs := make([]*schemas.TelemetryEvent, n)
	for i := range evs {
		evs[i] = &schemas.TelemetryEvent{SchemaVersion: 1, ID: fmt.Sprintf("%s-%d", host, i), Kind: schemas.KindHostMetric,
			Time: warehousetest.Base.Add(time.Duration(i) * time.Millisecond), Host: host, Source: "bench",
			Metric: &schemas.Metric{Name: "cpu.user", Value: float64(i % 100), Unit: "percent"}}
	}
	return evs
}

// BenchmarkInsertMethods compares the chDB insert methods side by side on 10k-row batches.
func BenchmarkInsertMethods(b *testing.B) {
	w := needCHDB(b)
	warehousetest.Migrated(b, w)
	const batch = 10000
	for _, method := range warehouse.InsertMethods {
		b.Run(method, func(b *testing.B) {
			host := warehousetest.Host(b)
			evs := benchEvents(host, batch)
			rows := make([][]any, batch)
			for i, ev := range evs {
				_, rows[i], _ = warehouse.TelemetryRow(ev)
			}
			cols := warehouse.Columns(warehouse.TableHostMetrics)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// A distinct first id per iteration so block dedup does not drop the insert.
				rows[0][0] = fmt.Sprintf("%s-iter-%d", host, i)
				if err := warehouse.InsertWithMethod(b.Context(), w, method, warehouse.TableHostMetrics, cols, rows); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
