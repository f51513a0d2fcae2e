package schemas_test

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/schemas"
)

// The JSON Schema files and the Go types describe the same contracts; these tests keep them
// from drifting: every Go json field is in the schema (and no more), required lists exactly the
// fields Go always writes, and Go-marshalled examples of every kind validate.

var schemaFiles = map[string]reflect.Type{
	"telemetry_event.v1.schema.json": reflect.TypeOf(schemas.TelemetryEvent{}),
	"feature_vector.v1.schema.json":  reflect.TypeOf(schemas.FeatureVector{}),
	"alert_event.v1.schema.json":     reflect.TypeOf(schemas.AlertEvent{}),
}

func compile(t *testing.T, file string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := c.Compile(file)
	require.NoError(t, err, file)
	return s
}

func rawSchema(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

func validate(t *testing.T, s *jsonschema.Schema, v any) error {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
	require.NoError(t, err)
	return s.Validate(inst)
}

func TestSchemasAreDraft202012AndVersioned(t *testing.T) {
	for file := range schemaFiles {
		m := rawSchema(t, file)
		require.Equal(t, "https://json-schema.org/draft/2020-12/schema", m["$schema"], file)
		require.True(t, strings.HasSuffix(m["$id"].(string), "/"+file), file)
		props := m["properties"].(map[string]any)
		require.Equal(t, map[string]any{"const": 1.0}, props["schema_version"], file)
	}
	require.Equal(t, 1, schemas.TelemetryVersion)
	require.Equal(t, 1, schemas.FeaturesVersion)
	require.Equal(t, 1, schemas.AlertVersion)
}

// jsonFields returns the json names of t's fields and which are always written (no omitempty).
func jsonFields(t reflect.Type) (names []string, always []string, types map[string]reflect.Type) {
	types = map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		parts := strings.Split(tag, ",")
		name := parts[0]
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		types[name] = f.Type
		if !slices.Contains(parts[1:], "omitempty") && !slices.Contains(parts[1:], "omitzero") {
			always = append(always, name)
		}
	}
	sort.Strings(names)
	sort.Strings(always)
	return names, always, types
}

// resolve follows a local $ref and array items / map values to the object schema of a Go type.
func resolve(root, node map[string]any, goType reflect.Type) (map[string]any, reflect.Type) {
	for {
		if ref, ok := node["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/$defs/")
			node = root["$defs"].(map[string]any)[name].(map[string]any)
			continue
		}
		switch goType.Kind() {
		case reflect.Pointer:
			goType = goType.Elem()
			continue
		case reflect.Slice:
			if goType.Elem().Kind() != reflect.Uint8 {
				node, goType = node["items"].(map[string]any), goType.Elem()
				continue
			}
		case reflect.Map:
			node, goType = node["additionalProperties"].(map[string]any), goType.Elem()
			continue
		}
		return node, goType
	}
}

var timeType = reflect.TypeOf(time.Time{})

func checkStruct(t *testing.T, file, path string, root, node map[string]any, goType reflect.Type) {
	names, always, types := jsonFields(goType)
	props, ok := node["properties"].(map[string]any)
	require.True(t, ok, "%s: %s has no properties", file, path)
	var schemaNames []string
	for k := range props {
		schemaNames = append(schemaNames, k)
	}
	sort.Strings(schemaNames)
	require.Equal(t, names, schemaNames, "%s: properties of %s (Go %s) differ", file, path, goType)
	require.Equal(t, false, node["additionalProperties"], "%s: %s must set additionalProperties false", file, path)
	var req []string
	for _, r := range node["required"].([]any) {
		req = append(req, r.(string))
	}
	sort.Strings(req)
	require.Equal(t, always, req, "%s: required of %s must list exactly the fields Go always writes", file, path)
	for _, name := range names {
		sub, subType := resolve(root, props[name].(map[string]any), types[name])
		if subType.Kind() == reflect.Struct && subType != timeType {
			checkStruct(t, file, path+"."+name, root, sub, subType)
		}
	}
}

func TestEveryGoFieldIsInTheSchema(t *testing.T) {
	for file, typ := range schemaFiles {
		root := rawSchema(t, file)
		checkStruct(t, file, "", root, root, typ)
	}
}

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)

func ptr[T any](v T) *T { return &v }

func telemetryExamples() []*schemas.TelemetryEvent {
	ev := func(kind schemas.Kind) *schemas.TelemetryEvent {
		return &schemas.TelemetryEvent{SchemaVersion: 1, ID: "ev-" + string(kind), Kind: kind, Time: t0, Host: "web-01", Source: "process"}
	}
	full := &schemas.Process{PID: 4242, PPID: 1, StartTime: t0.Add(-time.Minute), Name: "bash", Exe: "/tmp/x/bash",
		Cmdline: "bash -i", Cwd: "/tmp", ExeDeleted: true, ExeInWritableDir: true, UID: 1000, EUID: 0, SUID: 0, GID: 1000,
		EGID: 0, SGID: 0, User: "alice", TTY: "pts/0", Cgroup: "/user.slice", ContainerID: "abc", CapEff: "000001ffffffffff",
		SocketFDs: 2, StdioSocket: true, Ancestry: []schemas.Ancestor{{PID: 1, Name: "systemd", Exe: "/usr/lib/systemd/systemd", Cmdline: "/sbin/init", UID: 0, EUID: 0}}}
	exec := ev(schemas.KindProcessExec)
	exec.Process = full
	exec.Labels = map[string]string{"collector": "netlink"}
	exit := ev(schemas.KindProcessExit)
	exit.Process = &schemas.Process{PID: 4242, PPID: 1, StartTime: t0, Name: "bash", ExitCode: ptr(int32(-1))}
	sample := ev(schemas.KindProcessSample)
	sample.Process = &schemas.Process{PID: 7, Name: "postgres", StartTime: t0, CPUPercent: 12.5, RSSBytes: 1 << 30, Threads: 9, FDs: 40, ReadBytes: 1, WriteBytes: 2}
	conn := ev(schemas.KindConnection)
	conn.Conn = &schemas.Connection{Action: "opened", Proto: "tcp", LocalAddr: "10.0.0.5", LocalPort: 51234, RemoteAddr: "203.0.113.9",
		RemotePort: 443, State: "ESTABLISHED", PID: 4242, Process: "curl", Exe: "/usr/bin/curl", UID: 1000}
	lst := ev(schemas.KindListener)
	lst.Conn = &schemas.Connection{Action: "closed", Proto: "udp6", LocalAddr: "::", LocalPort: 53}
	hm := ev(schemas.KindHostMetric)
	hm.Metric = &schemas.Metric{Name: "cpu.user", Value: 42.5, Unit: "percent", Labels: map[string]string{"cpu": "total"}}
	sm := ev(schemas.KindSNMPMetric)
	sm.Metric = &schemas.Metric{Name: "if.in_octets_per_s", Value: 0, Device: "192.0.2.1", Labels: map[string]string{"ifIndex": "3"}}
	dev := ev(schemas.KindDevice)
	dev.Device = &schemas.Device{Action: "appeared", Address: "192.0.2.1", MAC: "00:11:22:33:44:55", SysName: "sw1", SysDescr: "Switch", SysObjectID: "1.3.6.1.4.1.9", Via: "arp"}
	return []*schemas.TelemetryEvent{exec, exit, sample, conn, lst, hm, sm, dev}
}

func TestTelemetryExamplesValidate(t *testing.T) {
	s := compile(t, "telemetry_event.v1.schema.json")
	examples := telemetryExamples()
	var kinds []schemas.Kind
	for _, ev := range examples {
		require.NoError(t, validate(t, s, ev), ev.Kind)
		kinds = append(kinds, ev.Kind)
	}
	require.Equal(t, schemas.Kinds, kinds, "one example per kind")
}

func TestTelemetrySchemaRejects(t *testing.T) {
	s := compile(t, "telemetry_event.v1.schema.json")
	bad := map[string]func(e *schemas.TelemetryEvent){
		"unknown kind":         func(e *schemas.TelemetryEvent) { e.Kind = "bogus" },
		"version 2":            func(e *schemas.TelemetryEvent) { e.SchemaVersion = 2 },
		"no host":              func(e *schemas.TelemetryEvent) { e.Host = "" },
		"exec without process": func(e *schemas.TelemetryEvent) { e.Process = nil },
		"bad proto": func(e *schemas.TelemetryEvent) {
			e.Kind = schemas.KindConnection
			e.Conn = &schemas.Connection{Action: "opened", Proto: "sctp"}
		},
	}
	for name, mut := range bad {
		ev := telemetryExamples()[0]
		mut(ev)
		require.Error(t, validate(t, s, ev), name)
	}
	// An extra field from an outside producer is refused.
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(`{"schema_version":1,"id":"x","kind":"host_metric","time":"2026-11-26T10:00:00Z","host":"h","source":"s","metric":{"name":"a","value":1},"extra":1}`))
	require.NoError(t, err)
	require.Error(t, s.Validate(inst))
	inst, err = jsonschema.UnmarshalJSON(strings.NewReader(`{"schema_version":1,"id":"x","kind":"host_metric","time":"yesterday","host":"h","source":"s","metric":{"name":"a","value":1}}`))
	require.NoError(t, err)
	require.Error(t, s.Validate(inst), "time must be RFC 3339")
}

func TestFeatureVectorExamplesValidate(t *testing.T) {
	s := compile(t, "feature_vector.v1.schema.json")
	fv := &schemas.FeatureVector{SchemaVersion: 1, ID: "fv-1", Host: "web-01", KeyKind: "process", Key: "proc:4242@1700000000",
		Entity: "bash", Window: "1m", Start: t0, End: t0.Add(time.Minute), Names: []string{"cpu", "rss"}, Values: []float64{1.5, 2e9},
		Normalised: []float64{0.1, 1}, Flags: []string{"new_executable"}, EventIDs: []string{"ev-1"}}
	require.NoError(t, validate(t, s, fv))
	minimal := &schemas.FeatureVector{SchemaVersion: 1, ID: "fv-2", Host: "h", KeyKind: "host", Key: "host", Start: t0, End: t0}
	require.NoError(t, validate(t, s, minimal))
	fv.Normalised = []float64{1.5}
	require.Error(t, validate(t, s, fv), "normalised values are 0..1")
}

func TestAlertExamplesValidate(t *testing.T) {
	s := compile(t, "alert_event.v1.schema.json")
	a := &schemas.AlertEvent{SchemaVersion: 1, ID: "a-1", Time: t0, Host: "web-01", EntityKind: "process", Entity: "bash",
		Title: "Shell spawned by a web server", Summary: "nginx started bash", Severity: schemas.SeverityHigh, Score: 0.82,
		Layers: []schemas.LayerBreakdown{
			{Layer: schemas.LayerGeometric, Score: ptr(0.9), Weight: 0.5, Contribution: 0.45, Reasons: []schemas.Reason{{
				ID: "shell_under_daemon", Title: "Shell under a network daemon", Text: "bash's parent is nginx", Score: 0.9,
				Level: "high", Tags: []string{"attack.execution"}, Evidence: map[string]string{"parent": "nginx"}}}},
			{Layer: schemas.LayerTemporal, Score: nil, Weight: 0.25, Abstain: "warming up"},
			{Layer: schemas.LayerIForest, Score: ptr(0.0), Weight: 0.25},
		},
		Tags: []string{"attack.t1059"}, EvidenceIDs: []string{"ev-1"}, Count: 3, FirstSeen: t0.Add(-time.Hour), LastSeen: t0,
		Status: schemas.StatusAcknowledged, StatusBy: "alice", StatusAt: ptr(t0),
		History: []schemas.ScoreChange{{Time: t0, Score: 0.82, Severity: schemas.SeverityHigh, Layer: "temporal"}}, RunID: "run-1",
		EntityKey: "proc:4242@1700000000", Cause: "shell_under_daemon", Version: 4}
	require.NoError(t, validate(t, s, a))
	for _, sev := range schemas.Severities {
		a.Severity = sev
		require.NoError(t, validate(t, s, a))
	}
	a.Severity = "SEVERE"
	require.Error(t, validate(t, s, a))
	a.Severity = schemas.SeverityLow
	a.Score = 1.5
	require.Error(t, validate(t, s, a), "score is 0..1")
}
