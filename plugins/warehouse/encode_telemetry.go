package warehouse

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/amoskys/amoskys/schemas"
)

// The typed telemetry encoder: one event straight to its RowBinary row, without boxing the
// values as []any and converting them back (the generic path, TelemetryRow + encodeRows, costs
// ~10 allocations and a type switch per value). The bytes are identical to the generic path's
// (tested), so an insert carries the same deduplication token whichever path made it.

// telemetryTypes are the column types the typed encoder writes, per table, in Columns order.
// RowBinaryReady checks them against the live table (LowCardinality read as its inner type);
// a table whose DDL differs falls back to the generic path.
var telemetryTypes = map[string][]string{
	TableHostMetrics: {"String", "DateTime64(6, 'UTC')", "String", "String", "String", "Float64", "String",
		"Map(String, String)"},
	TableSNMPMetrics: {"String", "DateTime64(6, 'UTC')", "String", "String", "String", "String", "Float64",
		"String", "Map(String, String)"},
	TableProcessSamples: {"String", "DateTime64(6, 'UTC')", "String", "String", "Int32", "Int32",
		"DateTime64(6, 'UTC')", "String", "String", "String", "UInt32", "UInt32", "String", "Float64",
		"UInt64", "Int32", "Int32", "UInt64", "UInt64", "Map(String, String)"},
	TableConnections: {"String", "String", "DateTime64(6, 'UTC')", "String", "String", "String", "String",
		"String", "UInt16", "String", "UInt16", "String", "Int32", "String", "String", "UInt32",
		"Map(String, String)"},
	TableDevices: {"String", "DateTime64(6, 'UTC')", "String", "String", "String", "String", "String",
		"String", "String", "String", "String", "Map(String, String)"},
	TableProcessEvents: {"String", "String", "DateTime64(6, 'UTC')", "String", "String", "Int32", "Int32",
		"DateTime64(6, 'UTC')", "String", "String", "String", "String", "Bool", "Bool", "UInt32", "UInt32",
		"UInt32", "UInt32", "UInt32", "UInt32", "String", "String", "String", "String", "String", "Int32",
		"Bool", "Array(Int32)", "Array(String)", "Array(String)", "Array(String)", "Array(UInt32)",
		"Array(UInt32)", "Nullable(Int32)", "Map(String, String)"},
}

// typesMatch reports whether the live column types (system.columns) are what the typed encoder
// writes for table.
func typesMatch(table string, live map[string]string) bool {
	want, ok := telemetryTypes[table]
	cols := columns[table]
	if !ok || len(want) != len(cols) {
		return false
	}
	for i, c := range cols {
		got, ok := live[c]
		if !ok {
			return false
		}
		g, err := parseType(got)
		if err != nil {
			return false
		}
		w, err := parseType(want[i])
		if err != nil || !reflect.DeepEqual(g, w) {
			return false
		}
	}
	return true
}

func rbString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func rbI32(b []byte, v int32) []byte  { return binary.LittleEndian.AppendUint32(b, uint32(v)) }
func rbU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func rbU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }
func rbF64(b []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}

func rbBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// rbTime writes DateTime64(6); the zero time is the epoch (CheckTelemetry bounded the range).
func rbTime(b []byte, t time.Time) []byte {
	return binary.LittleEndian.AppendUint64(b, uint64(ticks(t, 6)))
}

// rbLabels writes Map(String, String) with sorted keys, as the generic encoder does; metric
// labels win over event labels of the same name.
func rbLabels(b []byte, a, m map[string]string) []byte {
	if len(a) == 0 && len(m) == 0 {
		return append(b, 0)
	}
	if len(a) > 0 && len(m) > 0 {
		m = mergeLabels(a, m)
	} else if len(m) == 0 {
		m = a
	}
	b = binary.AppendUvarint(b, uint64(len(m)))
	if len(m) == 1 {
		for k, v := range m {
			return rbString(rbString(b, k), v)
		}
	}
	var arr [16]string
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = rbString(rbString(b, k), m[k])
	}
	return b
}

// AppendTelemetryRowBinary appends ev's row of table (CheckTelemetry's answer for ev) in
// RowBinary, columns as Columns(table) with LowCardinality written as its inner type. ev must
// have passed CheckTelemetry.
func AppendTelemetryRowBinary(b []byte, table string, ev *schemas.TelemetryEvent) []byte {
	switch table {
	case TableHostMetrics, TableSNMPMetrics:
		m := ev.Metric
		b = rbString(b, ev.ID)
		b = rbTime(b, ev.Time)
		b = rbString(b, ev.Host)
		b = rbString(b, ev.Source)
		if table == TableSNMPMetrics {
			b = rbString(b, m.Device)
		}
		b = rbString(b, m.Name)
		b = rbF64(b, m.Value)
		b = rbString(b, m.Unit)
		return rbLabels(b, ev.Labels, m.Labels)
	case TableProcessSamples:
		p := ev.Process
		b = rbString(b, ev.ID)
		b = rbTime(b, ev.Time)
		b = rbString(b, ev.Host)
		b = rbString(b, ev.Source)
		b = rbI32(b, p.PID)
		b = rbI32(b, p.PPID)
		b = rbTime(b, p.StartTime)
		b = rbString(b, p.Name)
		b = rbString(b, p.Exe)
		b = rbString(b, p.Cmdline)
		b = rbU32(b, p.UID)
		b = rbU32(b, p.EUID)
		b = rbString(b, p.User)
		b = rbF64(b, p.CPUPercent)
		b = rbU64(b, p.RSSBytes)
		b = rbI32(b, p.Threads)
		b = rbI32(b, p.FDs)
		b = rbU64(b, p.ReadBytes)
		b = rbU64(b, p.WriteBytes)
		return rbLabels(b, ev.Labels, nil)
	case TableConnections:
		c := ev.Conn
		b = rbString(b, ev.ID)
		b = rbString(b, string(ev.Kind))
		b = rbTime(b, ev.Time)
		b = rbString(b, ev.Host)
		b = rbString(b, ev.Source)
		b = rbString(b, c.Action)
		b = rbString(b, c.Proto)
		b = rbString(b, c.LocalAddr)
		b = binary.LittleEndian.AppendUint16(b, c.LocalPort)
		b = rbString(b, c.RemoteAddr)
		b = binary.LittleEndian.AppendUint16(b, c.RemotePort)
		b = rbString(b, c.State)
		b = rbI32(b, c.PID)
		b = rbString(b, c.Process)
		b = rbString(b, c.Exe)
		b = rbU32(b, c.UID)
		return rbLabels(b, ev.Labels, nil)
	case TableDevices:
		d := ev.Device
		b = rbString(b, ev.ID)
		b = rbTime(b, ev.Time)
		b = rbString(b, ev.Host)
		b = rbString(b, ev.Source)
		b = rbString(b, d.Action)
		b = rbString(b, d.Address)
		b = rbString(b, d.MAC)
		b = rbString(b, d.SysName)
		b = rbString(b, d.SysDescr)
		b = rbString(b, d.SysObjectID)
		b = rbString(b, d.Via)
		return rbLabels(b, ev.Labels, nil)
	case TableProcessEvents:
		p := ev.Process
		b = rbString(b, ev.ID)
		b = rbString(b, string(ev.Kind))
		b = rbTime(b, ev.Time)
		b = rbString(b, ev.Host)
		b = rbString(b, ev.Source)
		b = rbI32(b, p.PID)
		b = rbI32(b, p.PPID)
		b = rbTime(b, p.StartTime)
		b = rbString(b, p.Name)
		b = rbString(b, p.Exe)
		b = rbString(b, p.Cmdline)
		b = rbString(b, p.Cwd)
		b = rbBool(b, p.ExeDeleted)
		b = rbBool(b, p.ExeInWritableDir)
		for _, id := range [...]uint32{p.UID, p.EUID, p.SUID, p.GID, p.EGID, p.SGID} {
			b = rbU32(b, id)
		}
		for _, s := range [...]string{p.User, p.TTY, p.Cgroup, p.ContainerID, p.CapEff} {
			b = rbString(b, s)
		}
		b = rbI32(b, p.SocketFDs)
		b = rbBool(b, p.StdioSocket)
		n := uint64(len(p.Ancestry))
		b = binary.AppendUvarint(b, n)
		for _, a := range p.Ancestry {
			b = rbI32(b, a.PID)
		}
		b = binary.AppendUvarint(b, n)
		for _, a := range p.Ancestry {
			b = rbString(b, a.Name)
		}
		b = binary.AppendUvarint(b, n)
		for _, a := range p.Ancestry {
			b = rbString(b, a.Exe)
		}
		b = binary.AppendUvarint(b, n)
		for _, a := range p.Ancestry {
			b = rbString(b, a.Cmdline)
		}
		b = binary.AppendUvarint(b, n)
		for _, a := range p.Ancestry {
			b = rbU32(b, a.UID)
		}
		b = binary.AppendUvarint(b, n)
		for _, a := range p.Ancestry {
			b = rbU32(b, a.EUID)
		}
		if p.ExitCode == nil {
			b = append(b, 1)
		} else {
			b = rbI32(append(b, 0), *p.ExitCode)
		}
		return rbLabels(b, ev.Labels, nil)
	}
	panic("AppendTelemetryRowBinary: no table " + table) // CheckTelemetry never answers another
}

// RowBinaryInserter inserts rows already encoded by AppendTelemetryRowBinary. The chDB backend
// implements it when its insert method is rowbinary_file (the default).
type RowBinaryInserter interface {
	// RowBinaryReady reports whether table's live column types are the ones the typed encoder
	// writes (checked once per table until the next DDL).
	RowBinaryReady(ctx context.Context, table string) bool
	// InsertRowBinary inserts data (whole RowBinary rows, columns as Columns(table)) as one
	// INSERT carrying the same deduplication token as the generic path for the same rows.
	InsertRowBinary(ctx context.Context, table string, data []byte) error
}

// RowBinaryOf returns w's typed-row inserter, if its backend has one.
func RowBinaryOf(w Warehouse) (RowBinaryInserter, bool) {
	h, isHandle := w.(*handle)
	c, ok := unwrap(w).(*chdbWarehouse)
	if !ok || c.cfg.InsertWith != InsertRowBinaryFile {
		return nil, false
	}
	if isHandle {
		return handleRB{h: h, c: c}, true
	}
	return c, true
}

// handleRB keeps the closed-handle check of the shared handle.
type handleRB struct {
	h *handle
	c *chdbWarehouse
}

func (r handleRB) RowBinaryReady(ctx context.Context, table string) bool {
	return !r.h.closed.Load() && r.c.RowBinaryReady(ctx, table)
}

func (r handleRB) InsertRowBinary(ctx context.Context, table string, data []byte) error {
	if r.h.closed.Load() {
		return ErrClosed
	}
	return r.c.InsertRowBinary(ctx, table, data)
}

// RowBinaryReady implements RowBinaryInserter.
func (w *chdbWarehouse) RowBinaryReady(ctx context.Context, table string) bool {
	live, err := w.columnTypes(ctx, table)
	return err == nil && typesMatch(table, live)
}

// InsertRowBinary implements RowBinaryInserter.
func (w *chdbWarehouse) InsertRowBinary(ctx context.Context, table string, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	cols, ok := columns[table]
	if !ok || !validIdent(table) {
		return fmt.Errorf("table %q: not a telemetry table", table)
	}
	live, err := w.columnTypes(ctx, table)
	if err != nil {
		return err
	}
	if !typesMatch(table, live) {
		return fmt.Errorf("table %s: column types differ from the typed encoder's", table)
	}
	quoted := make([]string, len(cols))
	schema := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = "`" + c + "`"
		schema[i] = "`" + c + "` " + strings.ReplaceAll(live[c], "LowCardinality(String)", "String")
	}
	head := "INSERT INTO `" + table + "` (" + strings.Join(quoted, ", ") + ")"
	return w.insertFile(ctx, head, table, data, "RowBinary", "bin", strings.Join(schema, ", "))
}
