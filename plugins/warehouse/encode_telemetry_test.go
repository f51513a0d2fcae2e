package warehouse_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/plugins/warehouse/warehousetest"
	"github.com/amoskys/amoskys/schemas"
)

// variedEvents are the fixture events of every kind plus random variations of their fields
// (labels on both sides, empty and long ancestry, exit codes, zero start times, extreme values).
func variedEvents(host string, n int) []*schemas.TelemetryEvent {
	r := rand.New(rand.NewPCG(1, 2))
	evs := warehousetest.Events(host)
	str := func() string {
		b := make([]byte, r.IntN(300))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return string(b)
	}
	lbl := func() map[string]string {
		if r.IntN(3) == 0 {
			return nil
		}
		m := map[string]string{}
		for range r.IntN(20) {
			m[fmt.Sprint("k", r.IntN(30))] = str()
		}
		return m
	}
	for i := 0; i < n; i++ {
		base := *evs[i%8]
		ev := &base
		ev.ID = fmt.Sprintf("%s-v%d", host, i)
		ev.Time = warehousetest.Base.Add(time.Duration(r.Int64N(1 << 50)))
		ev.Host, ev.Source, ev.Labels = str()+"h", str(), lbl()
		if ev.Process != nil {
			p := *ev.Process
			p.PID, p.PPID, p.UID, p.SGID = r.Int32(), -r.Int32(), r.Uint32(), ^uint32(0)
			p.Cmdline, p.Exe, p.Name = str(), str(), str()
			p.CPUPercent, p.RSSBytes, p.WriteBytes = r.Float64()*800, r.Uint64(), ^uint64(0)
			if r.IntN(2) == 0 {
				p.StartTime = time.Time{}
			}
			p.Ancestry = nil
			for range r.IntN(6) {
				p.Ancestry = append(p.Ancestry, schemas.Ancestor{PID: r.Int32(), Name: str(), Exe: str(), Cmdline: str(), UID: r.Uint32(), EUID: r.Uint32()})
			}
			if r.IntN(2) == 0 {
				x := -r.Int32()
				p.ExitCode = &x
			} else {
				p.ExitCode = nil
			}
			p.ExeDeleted, p.StdioSocket = r.IntN(2) == 0, r.IntN(2) == 0
			ev.Process = &p
		}
		if ev.Conn != nil {
			c := *ev.Conn
			c.LocalPort, c.RemotePort, c.RemoteAddr = uint16(r.Uint32()), 65535, str()
			ev.Conn = &c
		}
		if ev.Metric != nil {
			m := *ev.Metric
			m.Value, m.Name, m.Labels = r.NormFloat64()*1e300, str()+"m", lbl()
			ev.Metric = &m
		}
		if ev.Device != nil {
			d := *ev.Device
			d.SysDescr, d.MAC = str(), str()
			ev.Device = &d
		}
		evs = append(evs, ev)
	}
	return evs
}

// TestTypedEncoderMatchesGeneric: the typed encoder writes, for every kind, exactly the bytes of
// the generic path (TelemetryRow + the type-driven encoder), so inserts carry the same dedup token.
func TestTypedEncoderMatchesGeneric(t *testing.T) {
	w := needCHDB(t)
	warehousetest.Migrated(t, w)
	rb, ok := warehouse.RowBinaryOf(w)
	require.True(t, ok, "the default chDB insert method has the typed path")
	seen := map[string]int{}
	for _, ev := range variedEvents(warehousetest.Host(t), 400) {
		table, err := warehouse.CheckTelemetry(ev)
		require.NoError(t, err)
		require.True(t, rb.RowBinaryReady(t.Context(), table), table)
		_, row, err := warehouse.TelemetryRow(ev)
		require.NoError(t, err)
		want, err := warehouse.EncodeRowsGeneric(t.Context(), w, table, [][]any{row})
		require.NoError(t, err)
		got := warehouse.AppendTelemetryRowBinary([]byte("prefix"), table, ev)
		require.True(t, bytes.Equal(append([]byte("prefix"), want...), got), "%s event %s", ev.Kind, ev.ID)
		seen[table]++
	}
	require.Len(t, seen, len(warehouse.TelemetryTables), "every telemetry table covered")
}

// TestTypedInsertLandsAndDedups: rows inserted through InsertRowBinary read back as inserted, and
// the same data inserted again (a retry) is dropped.
func TestTypedInsertLandsAndDedups(t *testing.T) {
	w := needCHDB(t)
	warehousetest.Migrated(t, w)
	rb, _ := warehouse.RowBinaryOf(w)
	host := warehousetest.Host(t)
	evs := warehousetest.Events(host)
	bufs := map[string][]byte{}
	for _, ev := range evs {
		table, err := warehouse.CheckTelemetry(ev)
		require.NoError(t, err)
		bufs[table] = warehouse.AppendTelemetryRowBinary(bufs[table], table, ev)
	}
	for range 2 {
		for table, data := range bufs {
			require.NoError(t, rb.InsertRowBinary(t.Context(), table, data))
		}
	}
	got := warehousetest.ReadBack(t, w, host)
	require.Len(t, got, len(evs))
}

func BenchmarkTelemetryEncode(b *testing.B) {
	evs := variedEvents("bench", 0)
	b.Run("typed", func(b *testing.B) {
		var buf []byte
		for i := 0; i < b.N; i++ {
			ev := evs[i%len(evs)]
			table, _ := warehouse.CheckTelemetry(ev)
			buf = warehouse.AppendTelemetryRowBinary(buf[:0], table, ev)
		}
	})
	b.Run("row_any", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, _, _ = warehouse.TelemetryRow(evs[i%len(evs)])
		}
	})
}
