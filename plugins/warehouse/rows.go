package warehouse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/amoskys/amoskys/schemas"
)

// Table names (clickhouse/migrations).
const (
	TableProcessEvents  = "process_events"
	TableProcessSamples = "process_samples"
	TableConnections    = "connections"
	TableHostMetrics    = "host_metrics"
	TableSNMPMetrics    = "snmp_metrics"
	TableDevices        = "devices"
	TableFeatures       = "features"
	TableAlerts         = "alerts"
	TableAlertsReplay   = "alerts_replay"
	TableDeadLetter     = "dead_letter"
	TableReplayRuns     = "replay_runs"
)

// TelemetryTables lists the telemetry tables in a stable order.
var TelemetryTables = []string{TableProcessEvents, TableProcessSamples, TableConnections,
	TableHostMetrics, TableSNMPMetrics, TableDevices}

// ErrBadRow wraps every reason a value cannot become a row; such a row goes to dead_letter.
var ErrBadRow = errors.New("bad row")

func badRow(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRow, fmt.Sprintf(format, args...))
}

// TelemetryTable names the table that stores events of kind k.
func TelemetryTable(k schemas.Kind) (string, error) {
	switch k {
	case schemas.KindProcessExec, schemas.KindProcessExit:
		return TableProcessEvents, nil
	case schemas.KindProcessSample:
		return TableProcessSamples, nil
	case schemas.KindConnection, schemas.KindListener:
		return TableConnections, nil
	case schemas.KindHostMetric:
		return TableHostMetrics, nil
	case schemas.KindSNMPMetric:
		return TableSNMPMetrics, nil
	case schemas.KindDevice:
		return TableDevices, nil
	}
	return "", badRow("unknown kind %q", k)
}

// Columns of every table, in the order the row mappers fill them.
var columns = map[string][]string{
	TableProcessEvents: {"id", "kind", "time", "host", "source", "pid", "ppid", "start_time", "name",
		"exe", "cmdline", "cwd", "exe_deleted", "exe_in_writable_dir", "uid", "euid", "suid", "gid",
		"egid", "sgid", "user", "tty", "cgroup", "container_id", "cap_eff", "socket_fds",
		"stdio_socket", "ancestry_pids", "ancestry_names", "ancestry_exes", "ancestry_cmdlines",
		"ancestry_uids", "ancestry_euids", "exit_code", "labels"},
	TableProcessSamples: {"id", "time", "host", "source", "pid", "ppid", "start_time", "name", "exe",
		"cmdline", "uid", "euid", "user", "cpu_percent", "rss_bytes", "threads", "fds", "read_bytes",
		"write_bytes", "labels"},
	TableConnections: {"id", "kind", "time", "host", "source", "action", "proto", "local_addr",
		"local_port", "remote_addr", "remote_port", "state", "pid", "process", "exe", "uid", "labels"},
	TableHostMetrics: {"id", "time", "host", "source", "name", "value", "unit", "labels"},
	TableSNMPMetrics: {"id", "time", "host", "source", "device", "name", "value", "unit", "labels"},
	TableDevices: {"id", "time", "host", "source", "action", "address", "mac", "sys_name", "sys_descr",
		"sys_object_id", "via", "labels"},
	TableFeatures: {"id", "host", "key_kind", "key", "entity", "window", "start", "end", "names",
		"values", "normalised", "flags", "event_ids"},
	TableAlerts: {"id", "version", "time", "updated_at", "host", "entity_kind", "entity", "entity_key",
		"title", "summary", "severity", "severity_rank", "score", "layer_names", "layer_scores",
		"layer_weights", "layer_contributions", "layers", "tags", "evidence_ids", "count",
		"first_seen", "last_seen", "status", "status_by", "status_at", "history", "cause", "run_id"},
	TableDeadLetter: {"time", "source", "target", "reason", "id", "payload"},
}

func init() { columns[TableAlertsReplay] = columns[TableAlerts] }

// Columns returns the columns the row mappers fill for table, in order (nil: unknown table).
func Columns(table string) []string { return columns[table] }

// minTime and maxTime bound what DateTime64(6) holds.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

func checkTime(what string, t time.Time, required bool) error {
	if t.IsZero() {
		if required {
			return badRow("%s is missing", what)
		}
		return nil
	}
	if t.Before(minTime) || !t.Before(maxTime) {
		return badRow("%s %s outside 1970..2261", what, t.Format(time.RFC3339Nano))
	}
	return nil
}

func labels(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// mergeLabels joins event labels and metric labels (metric labels win).
func mergeLabels(a, b map[string]string) map[string]string {
	if len(a) == 0 {
		return labels(b)
	}
	if len(b) == 0 {
		return a
	}
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// CheckTelemetry validates ev as every telemetry row mapper does and returns its table. The
// error wraps ErrBadRow and says what is wrong.
func CheckTelemetry(ev *schemas.TelemetryEvent) (string, error) {
	if ev == nil {
		return "", badRow("nil event")
	}
	if ev.ID == "" {
		return "", badRow("event has no id")
	}
	table, err := TelemetryTable(ev.Kind)
	if err != nil {
		return "", err
	}
	if ev.Host == "" {
		return "", badRow("event %s has no host", ev.ID)
	}
	if err := checkTime("time", ev.Time, true); err != nil {
		return "", err
	}
	switch table {
	case TableProcessEvents, TableProcessSamples:
		p := ev.Process
		if p == nil {
			return "", badRow("%s event %s has no process", ev.Kind, ev.ID)
		}
		if err := checkTime("process start_time", p.StartTime, false); err != nil {
			return "", err
		}
		if table == TableProcessSamples && (math.IsNaN(p.CPUPercent) || math.IsInf(p.CPUPercent, 0)) {
			return "", badRow("cpu_percent is not finite")
		}
	case TableConnections:
		if ev.Conn == nil {
			return "", badRow("%s event %s has no connection", ev.Kind, ev.ID)
		}
	case TableHostMetrics, TableSNMPMetrics:
		m := ev.Metric
		if m == nil {
			return "", badRow("%s event %s has no metric", ev.Kind, ev.ID)
		}
		if m.Name == "" {
			return "", badRow("metric event %s has no name", ev.ID)
		}
		if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			return "", badRow("metric %s value is not finite", m.Name)
		}
	case TableDevices:
		if ev.Device == nil {
			return "", badRow("device event %s has no device", ev.ID)
		}
	}
	return table, nil
}

// TelemetryRow maps an event to its table and row (columns as Columns(table)). The error wraps
// ErrBadRow and says what is wrong.
func TelemetryRow(ev *schemas.TelemetryEvent) (string, []any, error) {
	table, err := CheckTelemetry(ev)
	if err != nil {
		return "", nil, err
	}
	t := ev.Time.UTC()
	switch table {
	case TableProcessEvents, TableProcessSamples:
		p := ev.Process
		if table == TableProcessSamples {
			return table, []any{ev.ID, t, ev.Host, ev.Source, p.PID, p.PPID, p.StartTime, p.Name, p.Exe,
				p.Cmdline, p.UID, p.EUID, p.User, p.CPUPercent, p.RSSBytes, p.Threads, p.FDs,
				p.ReadBytes, p.WriteBytes, labels(ev.Labels)}, nil
		}
		n := len(p.Ancestry)
		apids, anames, aexes, acmds := make([]int32, n), make([]string, n), make([]string, n), make([]string, n)
		auids, aeuids := make([]uint32, n), make([]uint32, n)
		for i, a := range p.Ancestry {
			apids[i], anames[i], aexes[i], acmds[i], auids[i], aeuids[i] = a.PID, a.Name, a.Exe, a.Cmdline, a.UID, a.EUID
		}
		var exit any
		if p.ExitCode != nil {
			exit = *p.ExitCode
		}
		return table, []any{ev.ID, string(ev.Kind), t, ev.Host, ev.Source, p.PID, p.PPID, p.StartTime,
			p.Name, p.Exe, p.Cmdline, p.Cwd, p.ExeDeleted, p.ExeInWritableDir, p.UID, p.EUID, p.SUID,
			p.GID, p.EGID, p.SGID, p.User, p.TTY, p.Cgroup, p.ContainerID, p.CapEff, p.SocketFDs,
			p.StdioSocket, apids, anames, aexes, acmds, auids, aeuids, exit, labels(ev.Labels)}, nil
	case TableConnections:
		c := ev.Conn
		return table, []any{ev.ID, string(ev.Kind), t, ev.Host, ev.Source, c.Action, c.Proto, c.LocalAddr,
			c.LocalPort, c.RemoteAddr, c.RemotePort, c.State, c.PID, c.Process, c.Exe, c.UID,
			labels(ev.Labels)}, nil
	case TableHostMetrics, TableSNMPMetrics:
		m := ev.Metric
		lb := mergeLabels(ev.Labels, m.Labels)
		if table == TableHostMetrics {
			return table, []any{ev.ID, t, ev.Host, ev.Source, m.Name, m.Value, m.Unit, lb}, nil
		}
		return table, []any{ev.ID, t, ev.Host, ev.Source, m.Device, m.Name, m.Value, m.Unit, lb}, nil
	case TableDevices:
		d := ev.Device
		return table, []any{ev.ID, t, ev.Host, ev.Source, d.Action, d.Address, d.MAC, d.SysName,
			d.SysDescr, d.SysObjectID, d.Via, labels(ev.Labels)}, nil
	}
	return "", nil, badRow("no table for kind %q", ev.Kind)
}

// FeaturesRow maps a feature vector to a features row.
func FeaturesRow(f *schemas.FeatureVector) ([]any, error) {
	if f == nil {
		return nil, badRow("nil feature vector")
	}
	if f.ID == "" {
		return nil, badRow("feature vector has no id")
	}
	if err := checkTime("start", f.Start, true); err != nil {
		return nil, err
	}
	if err := checkTime("end", f.End, false); err != nil {
		return nil, err
	}
	if len(f.Names) != len(f.Values) {
		return nil, badRow("feature vector %s: %d names for %d values", f.ID, len(f.Names), len(f.Values))
	}
	for i, v := range f.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, badRow("feature %s is not finite", f.Names[i])
		}
	}
	norm := f.Normalised
	if norm == nil {
		norm = []float64{}
	}
	return []any{f.ID, f.Host, f.KeyKind, f.Key, f.Entity, f.Window, f.Start.UTC(), f.End.UTC(), f.Names,
		f.Values, norm, nonNil(f.Flags), nonNil(f.EventIDs)}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// AlertRow maps an alert to a row of alerts (or alerts_replay: same columns).
func AlertRow(a *schemas.AlertEvent) ([]any, error) {
	if a == nil {
		return nil, badRow("nil alert")
	}
	if a.ID == "" {
		return nil, badRow("alert has no id")
	}
	for _, c := range []struct {
		what string
		t    time.Time
		req  bool
	}{{"time", a.Time, true}, {"first_seen", a.FirstSeen, false}, {"last_seen", a.LastSeen, false}} {
		if err := checkTime(c.what, c.t, c.req); err != nil {
			return nil, err
		}
	}
	if math.IsNaN(a.Score) || math.IsInf(a.Score, 0) {
		return nil, badRow("alert %s score is not finite", a.ID)
	}
	first, last := a.FirstSeen, a.LastSeen
	if first.IsZero() {
		first = a.Time
	}
	if last.IsZero() {
		last = a.Time
	}
	updated := a.Time
	var statusAt any
	if a.StatusAt != nil {
		if err := checkTime("status_at", *a.StatusAt, false); err != nil {
			return nil, err
		}
		statusAt = a.StatusAt.UTC()
		if a.StatusAt.After(updated) {
			updated = *a.StatusAt
		}
	}
	n := len(a.Layers)
	names, scores := make([]string, n), make([]any, n)
	weights, contribs := make([]float64, n), make([]float64, n)
	for i, l := range a.Layers {
		names[i], weights[i], contribs[i] = l.Layer, l.Weight, l.Contribution
		if l.Score != nil {
			scores[i] = *l.Score
		}
	}
	layersJSON, err := json.Marshal(nonNilLayers(a.Layers))
	if err != nil {
		return nil, badRow("alert %s layers: %v", a.ID, err)
	}
	history, err := json.Marshal(nonNilHistory(a.History))
	if err != nil {
		return nil, badRow("alert %s history: %v", a.ID, err)
	}
	status := string(a.Status)
	if status == "" {
		status = string(schemas.StatusOpen)
	}
	count := a.Count
	if count < 0 {
		return nil, badRow("alert %s count %d < 0", a.ID, count)
	}
	return []any{a.ID, a.Version, a.Time.UTC(), updated.UTC(), a.Host, a.EntityKind, a.Entity, a.EntityKey,
		a.Title, a.Summary, string(a.Severity), uint8(a.Severity.Rank()), a.Score, names, scores,
		weights, contribs, string(layersJSON), nonNil(a.Tags), nonNil(a.EvidenceIDs), uint64(count),
		first.UTC(), last.UTC(), status, a.StatusBy, statusAt, string(history), a.Cause, a.RunID}, nil
}

func nonNilLayers(l []schemas.LayerBreakdown) []schemas.LayerBreakdown {
	if l == nil {
		return []schemas.LayerBreakdown{}
	}
	return l
}

func nonNilHistory(h []schemas.ScoreChange) []schemas.ScoreChange {
	if h == nil {
		return []schemas.ScoreChange{}
	}
	return h
}

// DeadLetter is one refused message.
type DeadLetter struct {
	Time    time.Time // when it was refused
	Source  string    // component: clickhouse_output, normalise, ...
	Target  string    // table or stage it was meant for
	Reason  string
	ID      string // event id if known
	Payload []byte // the message as received
}

// DeadLetterRow maps a dead letter to a dead_letter row.
func DeadLetterRow(d DeadLetter) []any {
	t := d.Time
	if t.Before(minTime) || !t.Before(maxTime) {
		t = time.Now()
	}
	return []any{t.UTC(), d.Source, d.Target, d.Reason, d.ID, string(d.Payload)}
}

// Batch gathers rows per table so one call inserts a mixed batch with one INSERT per table.
type Batch struct {
	tables map[string]*TableRows
}

// TableRows are the rows of one table in a Batch; Index[i] is the caller's index of Rows[i].
type TableRows struct {
	Table   string
	Columns []string
	Rows    [][]any
	Index   []int
}

// Add appends a row for table, remembering the caller's index.
func (b *Batch) Add(table string, row []any, index int) {
	if b.tables == nil {
		b.tables = map[string]*TableRows{}
	}
	tr, ok := b.tables[table]
	if !ok {
		tr = &TableRows{Table: table, Columns: columns[table]}
		b.tables[table] = tr
	}
	tr.Rows = append(tr.Rows, row)
	tr.Index = append(tr.Index, index)
}

// Tables returns the batch's tables in name order.
func (b *Batch) Tables() []*TableRows {
	out := make([]*TableRows, 0, len(b.tables))
	for _, t := range b.tables {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Table < out[j].Table })
	return out
}

// Len counts the rows in the batch.
func (b *Batch) Len() int {
	n := 0
	for _, t := range b.tables {
		n += len(t.Rows)
	}
	return n
}

// Insert writes every table of the batch.
func (b *Batch) Insert(ctx context.Context, w Warehouse) error {
	for _, t := range b.Tables() {
		if err := w.Insert(ctx, t.Table, t.Columns, t.Rows); err != nil {
			return fmt.Errorf("inserting %d rows into %s: %w", len(t.Rows), t.Table, err)
		}
	}
	return nil
}

// MappingError lists the inputs that could not be mapped to rows (by index).
type MappingError struct {
	Failed map[int]error
}

func (e *MappingError) Error() string {
	idx := make([]int, 0, len(e.Failed))
	for i := range e.Failed {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	return fmt.Sprintf("%d rows refused, first (#%d): %v", len(idx), idx[0], e.Failed[idx[0]])
}

func (e *MappingError) Unwrap() error { return ErrBadRow }

// InsertTelemetry routes events to their tables by kind and inserts them. Events that cannot be
// mapped are left out and reported in a *MappingError (the rest is inserted).
func InsertTelemetry(ctx context.Context, w Warehouse, events []*schemas.TelemetryEvent) error {
	var b Batch
	failed := map[int]error{}
	for i, ev := range events {
		table, row, err := TelemetryRow(ev)
		if err != nil {
			failed[i] = err
			continue
		}
		b.Add(table, row, i)
	}
	return finish(ctx, w, &b, failed)
}

// InsertFeatures inserts feature vectors into features.
func InsertFeatures(ctx context.Context, w Warehouse, fvs []*schemas.FeatureVector) error {
	var b Batch
	failed := map[int]error{}
	for i, f := range fvs {
		row, err := FeaturesRow(f)
		if err != nil {
			failed[i] = err
			continue
		}
		b.Add(TableFeatures, row, i)
	}
	return finish(ctx, w, &b, failed)
}

// InsertAlerts inserts alerts: into alerts_replay when RunID is set, else alerts.
func InsertAlerts(ctx context.Context, w Warehouse, alerts []*schemas.AlertEvent) error {
	var b Batch
	failed := map[int]error{}
	for i, a := range alerts {
		row, err := AlertRow(a)
		if err != nil {
			failed[i] = err
			continue
		}
		table := TableAlerts
		if a.RunID != "" {
			table = TableAlertsReplay
		}
		b.Add(table, row, i)
	}
	return finish(ctx, w, &b, failed)
}

// InsertDeadLetter inserts dead letters.
func InsertDeadLetter(ctx context.Context, w Warehouse, dl []DeadLetter) error {
	if len(dl) == 0 {
		return nil
	}
	rows := make([][]any, len(dl))
	for i, d := range dl {
		rows[i] = DeadLetterRow(d)
	}
	return w.Insert(ctx, TableDeadLetter, columns[TableDeadLetter], rows)
}

func finish(ctx context.Context, w Warehouse, b *Batch, failed map[int]error) error {
	if b.Len() > 0 {
		if err := b.Insert(ctx, w); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return &MappingError{Failed: failed}
	}
	return nil
}
