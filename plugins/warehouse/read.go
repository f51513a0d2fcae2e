package warehouse

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/amoskys/amoskys/schemas"
)

// chTime decodes a DateTime64 rendered by JSONEachRow ("2006-01-02 15:04:05.999999", UTC).
type chTime struct{ time.Time }

func (t *chTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	p, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, time.UTC)
	if err != nil {
		return err
	}
	if p.Equal(minTime) {
		p = time.Time{} // zero times are stored as the epoch
	}
	t.Time = p
	return nil
}

// telemetryRow is the union of the telemetry tables' columns, as JSONEachRow renders them.
type telemetryRow struct {
	ID               string            `json:"id"`
	Kind             string            `json:"kind"`
	Time             chTime            `json:"time"`
	Host             string            `json:"host"`
	Source           string            `json:"source"`
	PID              int32             `json:"pid"`
	PPID             int32             `json:"ppid"`
	StartTime        chTime            `json:"start_time"`
	Name             string            `json:"name"`
	Exe              string            `json:"exe"`
	Cmdline          string            `json:"cmdline"`
	Cwd              string            `json:"cwd"`
	ExeDeleted       bool              `json:"exe_deleted"`
	ExeInWritableDir bool              `json:"exe_in_writable_dir"`
	UID              uint32            `json:"uid"`
	EUID             uint32            `json:"euid"`
	SUID             uint32            `json:"suid"`
	GID              uint32            `json:"gid"`
	EGID             uint32            `json:"egid"`
	SGID             uint32            `json:"sgid"`
	User             string            `json:"user"`
	TTY              string            `json:"tty"`
	Cgroup           string            `json:"cgroup"`
	ContainerID      string            `json:"container_id"`
	CapEff           string            `json:"cap_eff"`
	SocketFDs        int32             `json:"socket_fds"`
	StdioSocket      bool              `json:"stdio_socket"`
	AncestryPIDs     []int32           `json:"ancestry_pids"`
	AncestryNames    []string          `json:"ancestry_names"`
	AncestryExes     []string          `json:"ancestry_exes"`
	AncestryCmdlines []string          `json:"ancestry_cmdlines"`
	AncestryUIDs     []uint32          `json:"ancestry_uids"`
	AncestryEUIDs    []uint32          `json:"ancestry_euids"`
	ExitCode         *int32            `json:"exit_code"`
	CPUPercent       float64           `json:"cpu_percent"`
	RSSBytes         uint64            `json:"rss_bytes"`
	Threads          int32             `json:"threads"`
	FDs              int32             `json:"fds"`
	ReadBytes        uint64            `json:"read_bytes"`
	WriteBytes       uint64            `json:"write_bytes"`
	Action           string            `json:"action"`
	Proto            string            `json:"proto"`
	LocalAddr        string            `json:"local_addr"`
	LocalPort        uint16            `json:"local_port"`
	RemoteAddr       string            `json:"remote_addr"`
	RemotePort       uint16            `json:"remote_port"`
	State            string            `json:"state"`
	Process          string            `json:"process"`
	Value            float64           `json:"value"`
	Unit             string            `json:"unit"`
	Device           string            `json:"device"`
	Address          string            `json:"address"`
	MAC              string            `json:"mac"`
	SysName          string            `json:"sys_name"`
	SysDescr         string            `json:"sys_descr"`
	SysObjectID      string            `json:"sys_object_id"`
	Via              string            `json:"via"`
	Labels           map[string]string `json:"labels"`
}

// jsonSettings make JSONEachRow decodable into Go numbers.
const jsonSettings = " SETTINGS output_format_json_quote_64bit_integers = 0, output_format_json_quote_denormals = 0"

// TelemetryQuery returns a query reading table's events between from (inclusive) and to
// (exclusive), for the given hosts (all when empty), in event-time order, after the cursor
// (time, id) when afterTime is not zero, at most limit rows, as JSONEachRow.
// FINAL (ReplacingMergeTree tables) or LIMIT 1 BY id (MergeTree tables) drops rows a re-cut
// retried batch may have duplicated.
func TelemetryQuery(table string, from, to time.Time, hosts []string, afterTime time.Time, afterID string, limit int) (string, error) {
	if _, ok := columns[table]; !ok || !isTelemetryTable(table) {
		return "", fmt.Errorf("%q is not a telemetry table (want one of %s)", table, strings.Join(TelemetryTables, ", "))
	}
	var where []string
	if !from.IsZero() {
		where = append(where, "time >= "+timeLiteral(from))
	}
	if !to.IsZero() {
		where = append(where, "time < "+timeLiteral(to))
	}
	if len(hosts) > 0 {
		q := make([]string, len(hosts))
		for i, h := range hosts {
			q[i] = Quote(h)
		}
		where = append(where, "host IN ("+strings.Join(q, ", ")+")")
	}
	if !afterTime.IsZero() {
		where = append(where, fmt.Sprintf("(time, id) > (%s, %s)", timeLiteral(afterTime), Quote(afterID)))
	}
	final := ""
	if replacing[table] {
		final = " FINAL"
	}
	q := "SELECT " + strings.Join(quoteIdents(columns[table]), ", ") + " FROM `" + table + "`" + final
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY time, id"
	if !replacing[table] {
		q += " LIMIT 1 BY id"
	}
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	return q + jsonSettings, nil
}

// replacing names the telemetry tables that are ReplacingMergeTree (clickhouse/migrations).
var replacing = map[string]bool{TableProcessEvents: true, TableConnections: true, TableDevices: true}

func isTelemetryTable(t string) bool {
	for _, x := range TelemetryTables {
		if x == t {
			return true
		}
	}
	return false
}

func quoteIdents(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = "`" + c + "`"
	}
	return out
}

// timeLiteral renders t as a DateTime64(9) literal in UTC.
func timeLiteral(t time.Time) string {
	return fmt.Sprintf("toDateTime64(%s, 9, 'UTC')", Quote(t.UTC().Format("2006-01-02 15:04:05.999999999")))
}

// DecodeTelemetry turns JSONEachRow output of TelemetryQuery (or of SELECT * on a telemetry table)
// back into events.
func DecodeTelemetry(table string, out []byte) ([]*schemas.TelemetryEvent, error) {
	var evs []*schemas.TelemetryEvent
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for line := 0; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r telemetryRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return evs, fmt.Errorf("decoding %s row %d: %w", table, line, err)
		}
		ev, err := r.event(table)
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
	return evs, sc.Err()
}

func (r *telemetryRow) event(table string) (*schemas.TelemetryEvent, error) {
	ev := &schemas.TelemetryEvent{SchemaVersion: schemas.TelemetryVersion, ID: r.ID,
		Kind: schemas.Kind(r.Kind), Time: r.Time.Time, Host: r.Host, Source: r.Source}
	lb := r.Labels
	if len(lb) == 0 {
		lb = nil
	}
	ev.Labels = lb
	switch table {
	case TableProcessEvents, TableProcessSamples:
		p := &schemas.Process{PID: r.PID, PPID: r.PPID, StartTime: r.StartTime.Time, Name: r.Name,
			Exe: r.Exe, Cmdline: r.Cmdline, UID: r.UID, EUID: r.EUID, User: r.User}
		if table == TableProcessSamples {
			ev.Kind = schemas.KindProcessSample
			p.CPUPercent, p.RSSBytes, p.Threads, p.FDs = r.CPUPercent, r.RSSBytes, r.Threads, r.FDs
			p.ReadBytes, p.WriteBytes = r.ReadBytes, r.WriteBytes
		} else {
			p.Cwd, p.ExeDeleted, p.ExeInWritableDir = r.Cwd, r.ExeDeleted, r.ExeInWritableDir
			p.SUID, p.GID, p.EGID, p.SGID = r.SUID, r.GID, r.EGID, r.SGID
			p.TTY, p.Cgroup, p.ContainerID, p.CapEff = r.TTY, r.Cgroup, r.ContainerID, r.CapEff
			p.SocketFDs, p.StdioSocket, p.ExitCode = r.SocketFDs, r.StdioSocket, r.ExitCode
			for i := range r.AncestryPIDs {
				a := schemas.Ancestor{PID: r.AncestryPIDs[i]}
				if i < len(r.AncestryNames) {
					a.Name = r.AncestryNames[i]
				}
				if i < len(r.AncestryExes) {
					a.Exe = r.AncestryExes[i]
				}
				if i < len(r.AncestryCmdlines) {
					a.Cmdline = r.AncestryCmdlines[i]
				}
				if i < len(r.AncestryUIDs) {
					a.UID = r.AncestryUIDs[i]
				}
				if i < len(r.AncestryEUIDs) {
					a.EUID = r.AncestryEUIDs[i]
				}
				p.Ancestry = append(p.Ancestry, a)
			}
		}
		ev.Process = p
	case TableConnections:
		ev.Conn = &schemas.Connection{Action: r.Action, Proto: r.Proto, LocalAddr: r.LocalAddr,
			LocalPort: r.LocalPort, RemoteAddr: r.RemoteAddr, RemotePort: r.RemotePort, State: r.State,
			PID: r.PID, Process: r.Process, Exe: r.Exe, UID: r.UID}
	case TableHostMetrics, TableSNMPMetrics:
		ev.Kind = schemas.KindHostMetric
		if table == TableSNMPMetrics {
			ev.Kind = schemas.KindSNMPMetric
		}
		// Event and metric labels share one column; they come back as metric labels.
		ev.Metric = &schemas.Metric{Name: r.Name, Value: r.Value, Unit: r.Unit, Device: r.Device, Labels: lb}
		ev.Labels = nil
	case TableDevices:
		ev.Kind = schemas.KindDevice
		ev.Device = &schemas.Device{Action: r.Action, Address: r.Address, MAC: r.MAC, SysName: r.SysName,
			SysDescr: r.SysDescr, SysObjectID: r.SysObjectID, Via: r.Via}
	default:
		return nil, fmt.Errorf("%q is not a telemetry table", table)
	}
	return ev, nil
}
