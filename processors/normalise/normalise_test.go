package normalise

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/schemas"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.FixedZone("CET", 3600))

func procEvent() *schemas.TelemetryEvent {
	return &schemas.TelemetryEvent{
		SchemaVersion: 1, Kind: schemas.KindProcessExec, Time: t0, Source: "process",
		Process: &schemas.Process{PID: 42, PPID: 1, StartTime: t0, Name: "sh", Exe: "/bin/sh"},
	}
}

func TestEventCompletes(t *testing.T) {
	n := New(Config{Host: "h1"})
	ev := procEvent()
	require.NoError(t, n.Event(ev))
	require.Equal(t, "h1", ev.Host)
	require.Equal(t, time.UTC, ev.Time.Location())
	require.Equal(t, time.UTC, ev.Process.StartTime.Location())
	require.Len(t, ev.ID, 32)

	// Same event, same id, whatever the zone it arrived in.
	ev2 := procEvent()
	ev2.Time = ev2.Time.UTC()
	require.NoError(t, n.Event(ev2))
	require.Equal(t, ev.ID, ev2.ID)

	// Another pid (same time): another id.
	ev3 := procEvent()
	ev3.Process.PID = 43
	require.NoError(t, n.Event(ev3))
	require.NotEqual(t, ev.ID, ev3.ID)

	// Producer-supplied ids are kept.
	ev4 := procEvent()
	ev4.ID = "mine"
	require.NoError(t, n.Event(ev4))
	require.Equal(t, "mine", ev4.ID)
}

func TestHostFromEnv(t *testing.T) {
	t.Setenv("AMOSKYS_HOST_ID", "from-env")
	require.Equal(t, "from-env", New(Config{}).Host())
	t.Setenv("AMOSKYS_HOST_ID", "")
	require.NotEmpty(t, New(Config{}).Host())
}

func TestMetricLabelsOrderFree(t *testing.T) {
	mk := func(l map[string]string) *schemas.TelemetryEvent {
		return &schemas.TelemetryEvent{SchemaVersion: 1, Kind: schemas.KindHostMetric, Time: t0,
			Metric: &schemas.Metric{Name: "net.rx_bytes_per_s", Value: 1, Labels: l}}
	}
	a, b := mk(map[string]string{"interface": "lo", "x": "y"}), mk(map[string]string{"x": "y", "interface": "lo"})
	c := mk(map[string]string{"interface": "eth0", "x": "y"})
	for _, e := range []*schemas.TelemetryEvent{a, b, c} {
		require.NoError(t, New(Config{Host: "h"}).Event(e))
	}
	require.Equal(t, a.ID, b.ID)
	require.NotEqual(t, a.ID, c.ID)
}

func TestRejections(t *testing.T) {
	code := int32(0)
	cases := []struct {
		name   string
		mutate func(*schemas.TelemetryEvent)
		reason Reason
	}{
		{"no schema version", func(e *schemas.TelemetryEvent) { e.SchemaVersion = 0 }, ReasonSchemaVersion},
		{"future schema version", func(e *schemas.TelemetryEvent) { e.SchemaVersion = 2 }, ReasonSchemaVersion},
		{"unknown kind", func(e *schemas.TelemetryEvent) { e.Kind = "bogus" }, ReasonUnknownKind},
		{"no kind", func(e *schemas.TelemetryEvent) { e.Kind = "" }, ReasonMissingField},
		{"no time", func(e *schemas.TelemetryEvent) { e.Time = time.Time{} }, ReasonMissingField},
		{"no process", func(e *schemas.TelemetryEvent) { e.Process = nil }, ReasonMissingField},
		{"no pid", func(e *schemas.TelemetryEvent) { e.Process.PID = 0 }, ReasonMissingField},
		{"nan cpu", func(e *schemas.TelemetryEvent) { e.Process.CPUPercent = math.NaN() }, ReasonNonFinite},
		{"two bodies", func(e *schemas.TelemetryEvent) { e.Metric = &schemas.Metric{Name: "x"} }, ReasonBadValue},
		{"oversized", func(e *schemas.TelemetryEvent) { e.Process.Cmdline = strings.Repeat("a", 70000) }, ReasonOversized},
		{"metric inf", func(e *schemas.TelemetryEvent) {
			e.Kind, e.Process, e.Metric = schemas.KindHostMetric, nil, &schemas.Metric{Name: "cpu.user", Value: math.Inf(1)}
		}, ReasonNonFinite},
		{"metric no name", func(e *schemas.TelemetryEvent) {
			e.Kind, e.Process, e.Metric = schemas.KindHostMetric, nil, &schemas.Metric{Value: 1}
		}, ReasonMissingField},
		{"snmp no device", func(e *schemas.TelemetryEvent) {
			e.Kind, e.Process, e.Metric = schemas.KindSNMPMetric, nil, &schemas.Metric{Name: "if.in", Value: 1}
		}, ReasonMissingField},
		{"conn bad action", func(e *schemas.TelemetryEvent) {
			e.Kind, e.Process, e.Conn = schemas.KindConnection, nil, &schemas.Connection{Action: "x", Proto: "tcp", LocalAddr: "1.2.3.4"}
		}, ReasonBadValue},
		{"conn bad proto", func(e *schemas.TelemetryEvent) {
			e.Kind, e.Process, e.Conn = schemas.KindConnection, nil, &schemas.Connection{Action: "opened", Proto: "sctp", LocalAddr: "1.2.3.4"}
		}, ReasonBadValue},
		{"device no address", func(e *schemas.TelemetryEvent) {
			e.Kind, e.Process, e.Device = schemas.KindDevice, nil, &schemas.Device{Action: "appeared"}
		}, ReasonMissingField},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := procEvent()
			tc.mutate(ev)
			err := New(Config{Host: "h"}).Event(ev)
			require.Error(t, err)
			require.Equal(t, tc.reason, ReasonOf(err), err.Error())
		})
	}
	ok := procEvent()
	ok.Kind, ok.Process.ExitCode = schemas.KindProcessExit, &code
	require.NoError(t, New(Config{Host: "h"}).Event(ok))
}

func TestDecode(t *testing.T) {
	n := New(Config{Host: "h", MaxBytes: 2048})
	good := `{"schema_version":1,"kind":"snmp_metric","time":"2026-11-26T12:00:00+01:00",
		"metric":{"name":"if.in_octets_per_s","value":12.5,"device":"10.0.0.1","labels":{"ifIndex":"2"}}}`
	ev, err := n.Decode([]byte(good))
	require.NoError(t, err)
	require.Equal(t, "external", ev.Source)
	require.Equal(t, "h", ev.Host)
	require.Equal(t, "2026-11-26T11:00:00Z", ev.Time.Format(time.RFC3339))

	for in, reason := range map[string]Reason{
		`not json`: ReasonMalformed,
		`[1,2]`:    ReasonMalformed,
		`{"schema_version":1,"kind":"host_metric","time":"2026-11-26T12:00:00Z","metric":{"name":"x","value":1e999}}`: ReasonMalformed,
		`{"schema_version":1,"kind":"host_metric","time":"2026-11-26T12:00:00Z","metric":{"name":"x","value":1}} {}`:  ReasonMalformed,
		`{"schema_version":"1"}`: ReasonMalformed,
		`{"schema_version":1,"kind":"nope","time":"2026-11-26T12:00:00Z"}`: ReasonUnknownKind,
		`{"kind":"device"}`: ReasonSchemaVersion,
		`{"schema_version":1,"kind":"device","time":"2026-11-26T12:00:00Z","device":{"action":"appeared","address":"` + strings.Repeat("x", 3000) + `"}}`: ReasonOversized,
	} {
		_, err := n.Decode([]byte(in))
		require.Error(t, err, in)
		require.Equal(t, reason, ReasonOf(err), "%s: %v", in, err)
	}
}

func FuzzDecode(f *testing.F) {
	seed := []string{
		`{"schema_version":1,"kind":"process_exec","time":"2026-11-26T12:00:00Z","process":{"pid":3,"ppid":1,"name":"x","ancestry":[{"pid":1,"name":"init"}]}}`,
		`{"schema_version":1,"kind":"connection","time":"2026-11-26T12:00:00Z","connection":{"action":"opened","proto":"tcp","local_addr":"127.0.0.1","local_port":80}}`,
		`{"schema_version":1,"kind":"host_metric","time":"2026-11-26T12:00:00Z","metric":{"name":"cpu.user","value":3}}`,
		`{"schema_version":1,"kind":"device","time":"2026-11-26T12:00:00Z","device":{"action":"changed","address":"10.0.0.1"}}`,
		`{}`, `null`, `{"kind":1}`,
	}
	for _, s := range seed {
		f.Add([]byte(s))
	}
	n := New(Config{Host: "fuzz", MaxBytes: 4096})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := n.Decode(b)
		if err != nil {
			require.Nil(t, ev)
			require.NotEmpty(t, ReasonOf(err))
			return
		}
		// An accepted event is valid, re-encodable, and normalises to itself.
		require.True(t, ev.Kind.Valid())
		require.NotEmpty(t, ev.ID)
		require.Equal(t, time.UTC, ev.Time.Location())
		out, err := json.Marshal(ev)
		require.NoError(t, err)
		again, err := New(Config{Host: "fuzz", MaxBytes: 1 << 20}).Decode(out)
		require.NoError(t, err)
		require.Equal(t, ev.ID, again.ID)
	})
}

// TestCorpus runs testdata/collect/normalise_cases.jsonl: each line an event (or raw text) and
// the reason it must be refused for ("" = accepted).
func TestCorpus(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "collect", "normalise_cases.jsonl"))
	require.NoError(t, err)
	n := New(Config{Host: "corpus"})
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.NotEmpty(t, lines)
	for _, line := range lines {
		var c struct {
			Name   string          `json:"name"`
			Reason string          `json:"reason"`
			Event  json.RawMessage `json:"event"`
			Raw    string          `json:"raw"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &c), line)
		t.Run(c.Name, func(t *testing.T) {
			in := []byte(c.Raw)
			if c.Event != nil {
				in = c.Event
			}
			ev, err := n.Decode(in)
			if c.Reason == "" {
				require.NoError(t, err)
				require.Len(t, ev.ID, 32)
				return
			}
			require.Error(t, err)
			require.Equal(t, Reason(c.Reason), ReasonOf(err), err.Error())
		})
	}
}

func TestUnits(t *testing.T) {
	for _, tc := range []struct {
		unit string
		in   float64
		want string
		out  float64
	}{
		{"%", 12, "percent", 12},
		{"KB", 2, "bytes", 2048},
		{" MiB ", 1, "bytes", 1 << 20},
		{"ms", 250, "seconds", 0.25},
		{"KB/s", 1, "bytes_per_s", 1024},
		{"bytes_per_s", 5, "bytes_per_s", 5},
		{"Furlongs", 3, "furlongs", 3},
		{"", 7, "", 7},
	} {
		ev := &schemas.TelemetryEvent{SchemaVersion: 1, Kind: schemas.KindHostMetric, Time: t0,
			Metric: &schemas.Metric{Name: "m", Value: tc.in, Unit: tc.unit}}
		require.NoError(t, New(Config{Host: "h"}).Event(ev), tc.unit)
		require.Equal(t, tc.want, ev.Metric.Unit, tc.unit)
		require.InDelta(t, tc.out, ev.Metric.Value, 1e-9, tc.unit)
	}
	big := &schemas.TelemetryEvent{SchemaVersion: 1, Kind: schemas.KindHostMetric, Time: t0,
		Metric: &schemas.Metric{Name: "m", Value: 1e308, Unit: "GB"}}
	err := New(Config{Host: "h"}).Event(big)
	require.Equal(t, ReasonNonFinite, ReasonOf(err), "overflow to +Inf by the conversion")
}

func BenchmarkEvent(b *testing.B) {
	n := New(Config{Host: "h"})
	ev := procEvent()
	ev.Process.Ancestry = []schemas.Ancestor{{PID: 1, Name: "systemd"}, {PID: 7, Name: "sshd", Exe: "/usr/sbin/sshd"}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ev.ID = ""
		if err := n.Event(ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	n := New(Config{Host: "h"})
	in := []byte(`{"schema_version":1,"kind":"host_metric","time":"2026-11-26T12:00:00Z","metric":{"name":"cpu.user","value":3.5,"unit":"%","labels":{"cpu":"all"}}}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := n.Decode(in); err != nil {
			b.Fatal(err)
		}
	}
}
