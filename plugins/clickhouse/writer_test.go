package clickhouse_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	chplugin "github.com/amoskys/amoskys/plugins/clickhouse"
	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/plugins/warehouse/warehousetest"
	"github.com/amoskys/amoskys/schemas"
)

func count(t testing.TB, w warehouse.Warehouse, q string) int {
	t.Helper()
	out, err := w.Query(context.Background(), q, "TabSeparated")
	require.NoError(t, err, q)
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	require.NoError(t, err)
	return n
}

func TestWriterDeadLettersBadRowsRestLands(t *testing.T) {
	w := needCHDB(t)
	host := warehousetest.Host(t)
	good := warehousetest.Events(host)
	bad := *good[5]
	badMetric := *bad.Metric
	badMetric.Value = 0
	bad.Metric = &badMetric
	bad.ID = ""
	items := []chplugin.Item{
		{Err: errors.New("decoding: invalid character"), Payload: func() []byte { return []byte("{not json") }},
		{Value: &bad, Payload: func() []byte { return []byte(`{"kind":"host_metric"}`) }},
		{Value: "a string", Payload: func() []byte { return []byte("a string") }},
	}
	for _, ev := range good {
		items = append(items, chplugin.Item{Value: ev})
	}
	counts := map[string]int{}
	wr := &chplugin.Writer{W: w, Table: chplugin.TableAuto, Source: host,
		Now:   func() time.Time { return warehousetest.Base },
		Count: func(s string, n int) { counts[s] += n }}
	res, err := wr.Write(t.Context(), items)
	require.NoError(t, err)
	require.Equal(t, chplugin.Result{Inserted: len(good), DeadLetter: 3}, res)
	require.Equal(t, map[string]int{"inserted": len(good), "dead_letter": 3}, counts)
	require.Len(t, warehousetest.ReadBack(t, w, host), len(good))
	out, err := w.Query(t.Context(), "SELECT reason, payload FROM dead_letter WHERE source = "+warehouse.Quote(host)+" ORDER BY reason", "TabSeparated")
	require.NoError(t, err)
	require.Equal(t, "bad row: cannot store a string\ta string\nbad row: event has no id\t{\"kind\":\"host_metric\"}\ndecoding: invalid character\t{not json\n", string(out))
}

func TestWriterExplicitTable(t *testing.T) {
	w := needCHDB(t)
	host := warehousetest.Host(t)
	evs := warehousetest.Events(host)
	wr := &chplugin.Writer{W: w, Table: warehouse.TableHostMetrics, Source: host}
	var items []chplugin.Item
	for _, ev := range evs {
		items = append(items, chplugin.Item{Value: ev})
	}
	res, err := wr.Write(t.Context(), items)
	require.NoError(t, err)
	require.Equal(t, 1, res.Inserted)
	require.Equal(t, len(evs)-1, res.DeadLetter)
	require.Equal(t, len(evs)-1, count(t, w, "SELECT count() FROM dead_letter WHERE source = "+warehouse.Quote(host)+" AND reason LIKE '%cannot go to table host_metrics'"))
}

// flaky fails the first n inserts after writing them (the worst case: the insert landed but its
// acknowledgement was lost), to show a retried batch never double-counts.
type flaky struct {
	warehouse.Warehouse
	fails atomic.Int32
}

func (f *flaky) Insert(ctx context.Context, table string, cols []string, rows [][]any) error {
	err := f.Warehouse.Insert(ctx, table, cols, rows)
	if err == nil && f.fails.Add(-1) >= 0 {
		return errors.New("connection reset after insert")
	}
	return err
}

func TestWriterRetryNeverDoubleCounts(t *testing.T) {
	w := needCHDB(t)
	host := warehousetest.Host(t)
	f := &flaky{Warehouse: w}
	f.fails.Store(2)
	attempts := 0
	wr := &chplugin.Writer{W: f, Table: chplugin.TableAuto, Source: host,
		Retry: func(ctx context.Context, op func() error) error {
			var err error
			for range 5 {
				attempts++
				if err = op(); err == nil || chplugin.IsPermanent(err) {
					return err
				}
			}
			return err
		}}
	var items []chplugin.Item
	for i := range 1000 {
		items = append(items, chplugin.Item{Value: &schemas.TelemetryEvent{SchemaVersion: 1, ID: fmt.Sprintf("%s-%d", host, i),
			Kind: schemas.KindHostMetric, Time: warehousetest.Base.Add(time.Duration(i) * time.Second), Host: host,
			Metric: &schemas.Metric{Name: "mem.used_bytes", Value: float64(i)}}})
	}
	res, err := wr.Write(t.Context(), items)
	require.NoError(t, err)
	require.Equal(t, 1000, res.Inserted)
	require.Equal(t, 3, attempts)
	require.Equal(t, 1000, count(t, w, "SELECT count() FROM host_metrics WHERE host = "+warehouse.Quote(host)))

	// A warehouse that keeps failing: the batch is refused (to be nacked), not half-acknowledged.
	f.fails.Store(100)
	_, err = wr.Write(t.Context(), items[:10])
	require.ErrorContains(t, err, "connection reset")
}

// flakyRB fails the first n typed inserts after they landed.
type flakyRB struct {
	warehouse.RowBinaryInserter
	fails   atomic.Int32
	inserts atomic.Int32
}

func (f *flakyRB) InsertRowBinary(ctx context.Context, table string, data []byte) error {
	f.inserts.Add(1)
	err := f.RowBinaryInserter.InsertRowBinary(ctx, table, data)
	if err == nil && f.fails.Add(-1) >= 0 {
		return errors.New("connection reset after insert")
	}
	return err
}

// TestWriterTypedConcurrentRetryNeverDoubleCounts: concurrent batches through the typed encoder
// and group commit, with inserts that land but report failure: every row is stored exactly once,
// and a Write returns only after its rows landed.
func TestWriterTypedConcurrentRetryNeverDoubleCounts(t *testing.T) {
	w := needCHDB(t)
	host := warehousetest.Host(t)
	rb, ok := warehouse.RowBinaryOf(w)
	require.True(t, ok)
	f := &flakyRB{RowBinaryInserter: rb}
	f.fails.Store(3)
	wr := &chplugin.Writer{W: w, Table: chplugin.TableAuto, Source: host, RowBinary: f,
		Retry: func(ctx context.Context, op func() error) error {
			var err error
			for range 10 {
				if err = op(); err == nil || chplugin.IsPermanent(err) {
					return err
				}
			}
			return err
		}}
	const writers, batches, rows = 6, 5, 300
	errs := make(chan error, writers*batches)
	for g := range writers {
		go func() {
			for b := range batches {
				var items []chplugin.Item
				for i := range rows {
					n := (g*batches+b)*rows + i
					items = append(items, chplugin.Item{Value: &schemas.TelemetryEvent{SchemaVersion: 1, ID: fmt.Sprintf("%s-%d", host, n),
						Kind: schemas.KindHostMetric, Time: warehousetest.Base.Add(time.Duration(n) * time.Millisecond), Host: host,
						Metric: &schemas.Metric{Name: "mem.used_bytes", Value: float64(n)}}})
				}
				res, err := wr.Write(t.Context(), items)
				if err == nil && res.Inserted != rows {
					err = fmt.Errorf("inserted %d of %d", res.Inserted, rows)
				}
				if err == nil {
					// Acknowledged means stored: the batch's last row is readable now.
					if c := count(t, w, fmt.Sprintf("SELECT count() FROM host_metrics WHERE id = '%s-%d'", host, (g*batches+b)*rows+rows-1)); c != 1 {
						err = fmt.Errorf("acknowledged batch not stored (%d)", c)
					}
				}
				errs <- err
			}
		}()
	}
	for range writers * batches {
		require.NoError(t, <-errs)
	}
	require.Equal(t, writers*batches*rows, count(t, w, "SELECT count() FROM host_metrics WHERE host = "+warehouse.Quote(host)))
	require.Less(t, int(f.inserts.Load()), writers*batches+3+1, "retries counted; groups never exceed one insert per batch")
	require.Equal(t, writers*batches*rows, count(t, w, "SELECT count(DISTINCT id) FROM host_metrics WHERE host = "+warehouse.Quote(host)))
}
