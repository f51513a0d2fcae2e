package warehouse_test

import (
	"fmt"
	"strings"
	"syscall"
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
			settle(b, w)
			c0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// A distinct first id per iteration so block dedup does not drop the insert.
				rows[0][0] = fmt.Sprintf("%s-iter-%d", host, i)
				if err := warehouse.InsertWithMethod(b.Context(), w, method, warehouse.TableHostMetrics, cols, rows); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			settle(b, w) // the merges the inserts caused are part of their cost
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(b.N*batch)/(cpuTime()-c0).Seconds(), "rows/cpu-s")
		})
	}
}

// cpuTime is the CPU time of the whole process: Go and the engine's threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// settle waits until no background merge runs (at most a minute).
func settle(b *testing.B, w warehouse.Warehouse) {
	for range 600 {
		out, err := w.Query(b.Context(), "SELECT count() FROM system.merges", "TabSeparated")
		if err != nil || strings.TrimSpace(string(out)) == "0" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
