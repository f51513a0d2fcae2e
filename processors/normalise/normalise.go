// Package normalise turns every input into a valid schemas.TelemetryEvent: host identity, UTC event
// time, canonical metric units (KB → bytes, ms → seconds, % → percent, ...), a stable event id, and validation (unknown kind, missing fields, oversized, NaN/Inf, bad
// schema_version). It is plain Go; plugin.go adapts it to Benthos as the `normalise` processor.
package normalise

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/amoskys/amoskys/schemas"
)

// Reason names why an event was rejected; it is stored in the dead-letter metadata.
type Reason string

// Rejection reasons (the `reason` prefix of the dead-letter message, and a metric status).
const (
	ReasonMalformed     Reason = "malformed"
	ReasonOversized     Reason = "oversized"
	ReasonUnknownKind   Reason = "unknown_kind"
	ReasonMissingField  Reason = "missing_field"
	ReasonNonFinite     Reason = "non_finite"
	ReasonSchemaVersion Reason = "bad_schema_version"
	ReasonBadValue      Reason = "bad_value"
)

// Error is a validation failure: Reason is the category, Detail says what exactly.
type Error struct {
	Reason Reason
	Detail string
}

func (e *Error) Error() string { return string(e.Reason) + ": " + e.Detail }

func fail(r Reason, format string, args ...any) error {
	return &Error{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the Reason of err, or ReasonMalformed for an error that is not an *Error.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonMalformed
}

// Config configures a Normaliser.
type Config struct {
	// Host is the host identity written into events that carry none. Empty: AMOSKYS_HOST_ID,
	// then os.Hostname.
	Host string
	// MaxBytes bounds one event's encoded size; 0 means DefaultMaxBytes.
	MaxBytes int
	// MaxIDLen bounds a producer-supplied id; longer ids are replaced by the computed one.
	MaxIDLen int
}

// DefaultMaxBytes is the default bound on one event's size.
const DefaultMaxBytes = 64 << 10

// Normaliser validates and completes TelemetryEvents. It is safe for concurrent use.
type Normaliser struct {
	host     string
	maxBytes int
	maxIDLen int
}

// HostID returns the host identity: AMOSKYS_HOST_ID if set, else the os hostname, else "unknown".
func HostID() string {
	if h := os.Getenv("AMOSKYS_HOST_ID"); h != "" {
		return h
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "unknown"
}

// New returns a Normaliser for cfg.
func New(cfg Config) *Normaliser {
	n := &Normaliser{host: cfg.Host, maxBytes: cfg.MaxBytes, maxIDLen: cfg.MaxIDLen}
	if n.host == "" {
		n.host = HostID()
	}
	if n.maxBytes <= 0 {
		n.maxBytes = DefaultMaxBytes
	}
	if n.maxIDLen <= 0 {
		n.maxIDLen = 128
	}
	return n
}

// Host returns the host identity this Normaliser writes.
func (n *Normaliser) Host() string { return n.host }

// Decode parses the JSON of an outside producer into an event and normalises it.
func (n *Normaliser) Decode(b []byte) (*schemas.TelemetryEvent, error) {
	if len(b) > n.maxBytes {
		return nil, fail(ReasonOversized, "%d bytes > max %d", len(b), n.maxBytes)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, fail(ReasonMalformed, "not a JSON object")
	}
	ev := new(schemas.TelemetryEvent)
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(ev); err != nil {
		return nil, fail(ReasonMalformed, "%v", err)
	}
	if dec.More() {
		return nil, fail(ReasonMalformed, "trailing data after the JSON object")
	}
	if err := n.Event(ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// Event validates ev and completes it in place: host, UTC times, source, stable id.
func (n *Normaliser) Event(ev *schemas.TelemetryEvent) error {
	if ev == nil {
		return fail(ReasonMalformed, "no event")
	}
	if ev.SchemaVersion != schemas.TelemetryVersion {
		if ev.SchemaVersion == 0 {
			return fail(ReasonSchemaVersion, "schema_version missing (want %d)", schemas.TelemetryVersion)
		}
		return fail(ReasonSchemaVersion, "schema_version %d (want %d)", ev.SchemaVersion, schemas.TelemetryVersion)
	}
	if !ev.Kind.Valid() {
		if ev.Kind == "" {
			return fail(ReasonMissingField, "kind")
		}
		return fail(ReasonUnknownKind, "kind %q", truncate(string(ev.Kind), 64))
	}
	if ev.Time.IsZero() {
		return fail(ReasonMissingField, "time")
	}
	if y := ev.Time.Year(); y < 1971 || y > 9999 {
		return fail(ReasonBadValue, "time %s out of range", ev.Time.Format(time.RFC3339))
	}
	ev.Time = ev.Time.UTC()
	if ev.Host == "" {
		ev.Host = n.host
	}
	if ev.Source == "" {
		ev.Source = "external"
	}
	if err := validateBody(ev); err != nil {
		return err
	}
	if sz := approxSize(ev); sz > n.maxBytes {
		return fail(ReasonOversized, "~%d bytes > max %d", sz, n.maxBytes)
	}
	if ev.ID == "" || len(ev.ID) > n.maxIDLen {
		ev.ID = ID(ev)
	}
	return nil
}

func validateBody(ev *schemas.TelemetryEvent) error {
	set := 0
	for _, p := range []bool{ev.Process != nil, ev.Conn != nil, ev.Metric != nil, ev.Device != nil} {
		if p {
			set++
		}
	}
	if set > 1 {
		return fail(ReasonBadValue, "more than one of process, connection, metric, device set")
	}
	switch ev.Kind {
	case schemas.KindProcessExec, schemas.KindProcessExit, schemas.KindProcessSample:
		p := ev.Process
		if p == nil {
			return fail(ReasonMissingField, "process (kind %s)", ev.Kind)
		}
		if p.PID <= 0 {
			return fail(ReasonMissingField, "process.pid")
		}
		if p.PPID < 0 {
			return fail(ReasonBadValue, "process.ppid %d", p.PPID)
		}
		if !p.StartTime.IsZero() {
			p.StartTime = p.StartTime.UTC()
		}
		if !finite(p.CPUPercent) {
			return fail(ReasonNonFinite, "process.cpu_percent")
		}
		if p.CPUPercent < 0 {
			return fail(ReasonBadValue, "process.cpu_percent %v < 0", p.CPUPercent)
		}
	case schemas.KindConnection, schemas.KindListener:
		c := ev.Conn
		if c == nil {
			return fail(ReasonMissingField, "connection (kind %s)", ev.Kind)
		}
		if c.Action != "opened" && c.Action != "closed" {
			if c.Action == "" {
				return fail(ReasonMissingField, "connection.action")
			}
			return fail(ReasonBadValue, "connection.action %q (want opened|closed)", truncate(c.Action, 32))
		}
		switch c.Proto {
		case "tcp", "tcp6", "udp", "udp6":
		case "":
			return fail(ReasonMissingField, "connection.proto")
		default:
			return fail(ReasonBadValue, "connection.proto %q", truncate(c.Proto, 32))
		}
		if c.LocalAddr == "" {
			return fail(ReasonMissingField, "connection.local_addr")
		}
	case schemas.KindHostMetric, schemas.KindSNMPMetric:
		m := ev.Metric
		if m == nil {
			return fail(ReasonMissingField, "metric (kind %s)", ev.Kind)
		}
		if m.Name == "" {
			return fail(ReasonMissingField, "metric.name")
		}
		if !finite(m.Value) {
			return fail(ReasonNonFinite, "metric.value of %s", truncate(m.Name, 64))
		}
		m.Unit, m.Value = canonicalUnit(m.Unit, m.Value)
		if !finite(m.Value) {
			return fail(ReasonNonFinite, "metric.value of %s in %s", truncate(m.Name, 64), m.Unit)
		}
		if ev.Kind == schemas.KindSNMPMetric && m.Device == "" {
			return fail(ReasonMissingField, "metric.device (kind snmp_metric)")
		}
	case schemas.KindDevice:
		d := ev.Device
		if d == nil {
			return fail(ReasonMissingField, "device (kind device)")
		}
		switch d.Action {
		case "appeared", "changed", "disappeared":
		case "":
			return fail(ReasonMissingField, "device.action")
		default:
			return fail(ReasonBadValue, "device.action %q", truncate(d.Action, 32))
		}
		if d.Address == "" {
			return fail(ReasonMissingField, "device.address")
		}
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// approxSize estimates the encoded size of ev without encoding it (structured events from our
// own collectors are never marshalled here): string lengths plus a fixed cost per field.
func approxSize(ev *schemas.TelemetryEvent) int {
	n := 200 + len(ev.ID) + len(ev.Host) + len(ev.Source) + mapSize(ev.Labels)
	if p := ev.Process; p != nil {
		n += 600 + len(p.Name) + len(p.Exe) + len(p.Cmdline) + len(p.Cwd) + len(p.User) + len(p.TTY) +
			len(p.Cgroup) + len(p.ContainerID) + len(p.CapEff)
		for _, a := range p.Ancestry {
			n += 60 + len(a.Name) + len(a.Exe) + len(a.Cmdline)
		}
	}
	if c := ev.Conn; c != nil {
		n += 200 + len(c.LocalAddr) + len(c.RemoteAddr) + len(c.Process) + len(c.Exe) + len(c.State)
	}
	if m := ev.Metric; m != nil {
		n += 80 + len(m.Name) + len(m.Unit) + len(m.Device) + mapSize(m.Labels)
	}
	if d := ev.Device; d != nil {
		n += 120 + len(d.Address) + len(d.MAC) + len(d.SysName) + len(d.SysDescr) + len(d.SysObjectID) + len(d.Via)
	}
	return n
}

func mapSize(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v) + 6
	}
	return n
}

// ID is the stable id of ev: a hash of host, kind, entity identity, event time and the fields that
// tell two events of the same entity at the same time apart. A retried insert gets the same id.
func ID(ev *schemas.TelemetryEvent) string {
	h := sha256.New()
	var num [8]byte
	str := func(s string) {
		binary.LittleEndian.PutUint64(num[:], uint64(len(s)))
		h.Write(num[:])
		h.Write([]byte(s))
	}
	i64 := func(v int64) {
		binary.LittleEndian.PutUint64(num[:], uint64(v))
		h.Write(num[:])
	}
	str(ev.Host)
	str(string(ev.Kind))
	str(ev.Source)
	i64(ev.Time.UnixNano())
	labels(str, ev.Labels)
	if p := ev.Process; p != nil {
		i64(int64(p.PID))
		i64(p.StartTime.UnixNano())
		str(p.Exe)
		str(p.Cmdline)
	}
	if c := ev.Conn; c != nil {
		str(c.Action)
		str(c.Proto)
		str(c.LocalAddr)
		i64(int64(c.LocalPort))
		str(c.RemoteAddr)
		i64(int64(c.RemotePort))
		i64(int64(c.PID))
	}
	if m := ev.Metric; m != nil {
		str(m.Name)
		str(m.Device)
		labels(str, m.Labels)
	}
	if d := ev.Device; d != nil {
		str(d.Action)
		str(d.Address)
		str(d.SysObjectID)
	}
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}

func labels(str func(string), m map[string]string) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	str(strconv.Itoa(len(keys)))
	for _, k := range keys {
		str(k)
		str(m[k])
	}
}
