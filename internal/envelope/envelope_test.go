package envelope

import (
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/schemas"
)

func TestTypeAndDecodeOnce(t *testing.T) {
	m := service.NewMessage([]byte(`{"id":"e1","host":"h1","kind":"process_exec"}`))
	require.Equal(t, TypeTelemetry, Type(m), "no metadata: telemetry")
	ev, err := Event(m)
	require.NoError(t, err)
	again, err := EventOf(m)
	require.NoError(t, err)
	require.Same(t, ev, again, "decoded once, then taken back")
	m.MetaSetMut(MetaType, "")
	require.Equal(t, TypeTelemetry, Type(m))
	m.MetaSet(MetaType, TypeAlert) // a string set through MetaSet reads the same
	require.Equal(t, TypeAlert, Type(m))
	_, err = Event(m)
	require.ErrorIs(t, err, ErrWrongType)

	fv := NewFeatures(&schemas.FeatureVector{ID: "f1"})
	require.Equal(t, TypeFeatures, Type(fv))
	got, err := FeaturesOf(fv)
	require.NoError(t, err)
	require.Equal(t, "f1", got.ID)
}

func TestEOF(t *testing.T) {
	end := time.Date(2026, 11, 26, 12, 0, 0, 5, time.UTC)
	m := NewEOF(end)
	require.True(t, IsEOF(m))
	require.Equal(t, TypeControl, Type(m))
	require.True(t, EOFTime(m).Equal(end))
	b, err := m.AsBytes()
	require.NoError(t, err)
	require.JSONEq(t, `{}`, string(b), "bloblang stages read an empty object")

	open := NewEOF(time.Time{})
	require.True(t, IsEOF(open))
	require.True(t, EOFTime(open).IsZero(), "no range end")
	require.False(t, IsEOF(NewEvent(&schemas.TelemetryEvent{ID: "x"})))
}

func TestAddLayerCopiesOnWrite(t *testing.T) {
	m := NewEvent(&schemas.TelemetryEvent{ID: "x"})
	AddLayer(m, schemas.LayerResult{Layer: schemas.LayerGeometric})
	c := m.Copy()
	AddLayer(c, schemas.LayerResult{Layer: schemas.LayerTemporal})
	require.Len(t, Layers(m), 1, "the copy's layer is not the original's")
	require.Len(t, Layers(c), 2)
}

// A message of JSON bytes is decoded straight into the Go type (no generic parse first), and a
// structured value of another shape (a bloblang mapping's output) still decodes.
func TestDecodeFromBytesAndGenericStructure(t *testing.T) {
	m := service.NewMessage([]byte(`{"id":"e2","host":"h2"}`))
	require.False(t, m.HasStructured())
	ev, err := Event(m)
	require.NoError(t, err)
	require.Equal(t, "h2", ev.Host)
	require.True(t, m.HasStructured(), "the decoded value is kept")

	g := service.NewMessage(nil)
	g.SetStructured(map[string]any{"id": "e3", "host": "h3"})
	ev, err = Event(g)
	require.NoError(t, err)
	require.Equal(t, "e3", ev.ID)

	bad := service.NewMessage([]byte(`{not json`))
	_, err = Event(bad)
	require.Error(t, err)
}

// BenchmarkEventFromJSON is the first stage's decode of a bus message (JSON bytes):
// go test -bench EventFromJSON -benchmem ./internal/envelope
func BenchmarkEventFromJSON(b *testing.B) {
	raw := []byte(`{"schema_version":1,"id":"bench-03-000000120","kind":"process_exec","time":"2026-11-25T14:00:12Z","host":"bench-03","source":"process","process":{"pid":1012,"ppid":1,"start_time":"2026-11-25T14:00:12Z","name":"curl","exe":"/usr/bin/curl","cmdline":"curl -c true","uid":1000,"euid":0,"user":"u","ancestry":[{"pid":1,"name":"systemd","exe":"/usr/lib/systemd/systemd"}]}}`)
	b.ReportAllocs()
	for b.Loop() {
		m := service.NewMessage(raw)
		if _, err := Event(m); err != nil {
			b.Fatal(err)
		}
	}
}

// Is agrees with Type(msg) == want on every message the chain makes or reads, retyped ones
// included; only a payload of another chain type under want's name is not want.
func TestIs(t *testing.T) {
	types := []string{TypeTelemetry, TypeFeatures, TypeAlert, TypeControl, "dead_letter"}
	retyped := NewFeatures(&schemas.FeatureVector{ID: "f1"})
	retyped.MetaSetMut(MetaType, "dead_letter") // the detect pipeline's dead-letter output does this
	bytesAlert := service.NewMessage([]byte(`{"id":"a1"}`))
	bytesAlert.MetaSetMut(MetaType, TypeAlert)
	generic := service.NewMessage(nil)
	generic.SetStructured(map[string]any{"id": "x"}) // a bloblang stage's value: no chain type
	generic.MetaSetMut(MetaType, TypeFeatures)
	msgs := map[string]*service.Message{
		"event":          NewEvent(&schemas.TelemetryEvent{ID: "e1"}),
		"vector":         NewFeatures(&schemas.FeatureVector{ID: "f1"}),
		"alert":          NewAlert(&schemas.AlertEvent{ID: "a1"}),
		"eof":            NewEOF(time.Time{}),
		"retyped vector": retyped,
		"bytes, no meta": service.NewMessage([]byte(`{"id":"e2"}`)),
		"bytes alert":    bytesAlert,
		"generic":        generic,
	}
	for name, m := range msgs {
		for _, want := range types {
			require.Equal(t, Type(m) == want, Is(m, want), "%s, %s", name, want)
		}
	}
	require.False(t, msgs["bytes, no meta"].HasStructured(), "Is does not decode bytes")

	mislabelled := NewEvent(&schemas.TelemetryEvent{ID: "e3"})
	mislabelled.MetaSetMut(MetaType, TypeFeatures)
	require.False(t, Is(mislabelled, TypeFeatures), "an event's payload is no feature vector")
	mislabelled.MetaSetMut(MetaType, TypeControl)
	require.False(t, Is(mislabelled, TypeControl), "a control message holds no chain payload")
	mislabelled.MetaSetMut(MetaType, "mine")
	require.True(t, Is(mislabelled, "mine"), "a type of the user's own: the metadata decides")
	require.True(t, Is(msgs["vector"], TypeFeatures))
}
