package normalise

import (
	"encoding/json"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/schemas"
)

func TestProcessBatch(t *testing.T) {
	conf, err := spec().ParseYAML("host: plug\nmax_bytes: 4096\n", nil)
	require.NoError(t, err)
	p, err := newProcessor(conf, service.MockResources())
	require.NoError(t, err)

	structured := envelope.NewEvent(procEvent())
	outside := service.NewMessage([]byte(`{"schema_version":1,"kind":"device","time":"2026-11-26T12:00:00Z","device":{"action":"appeared","address":"10.0.0.9"}}`))
	bad := service.NewMessage([]byte(`{"schema_version":1,"kind":"weird","time":"2026-11-26T12:00:00Z"}`))
	features := envelope.NewFeatures(&schemas.FeatureVector{SchemaVersion: 1})

	before := readCounter(t, "unknown_kind")
	out, err := p.ProcessBatch(t.Context(), service.MessageBatch{structured, outside, bad, features})
	require.NoError(t, err)
	require.Len(t, out, 1)
	require.Len(t, out[0], 4)

	ev, err := envelope.Event(out[0][0])
	require.NoError(t, err)
	require.Equal(t, "plug", ev.Host)
	id, _ := out[0][0].MetaGet(MetaEventID)
	require.Equal(t, ev.ID, id)
	require.NoError(t, out[0][0].GetError())

	// Bytes from outside are decoded once and kept structured.
	v, err := out[0][1].AsStructured()
	require.NoError(t, err)
	dev, ok := v.(*schemas.TelemetryEvent)
	require.True(t, ok)
	require.Equal(t, "10.0.0.9", dev.Device.Address)
	kind, _ := out[0][1].MetaGet(MetaKind)
	require.Equal(t, "device", kind)
	b, err := out[0][1].AsBytes()
	require.NoError(t, err)
	var round schemas.TelemetryEvent
	require.NoError(t, json.Unmarshal(b, &round))
	require.Equal(t, dev.ID, round.ID)

	require.Error(t, out[0][2].GetError())
	reason, ok := out[0][2].MetaGet(envelope.MetaDLQ)
	require.True(t, ok)
	require.Contains(t, reason, "unknown_kind")
	require.Equal(t, before+1, readCounter(t, "unknown_kind"))

	require.Error(t, out[0][3].GetError())
}

func readCounter(t *testing.T, status string) float64 {
	t.Helper()
	return testutil.ToFloat64(EventsTotal.WithLabelValues(status))
}
