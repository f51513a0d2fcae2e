package batchin

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/schemas"
)

func TestInput(t *testing.T) {
	ch := make(chan []*schemas.TelemetryEvent, 1)
	var stopped context.Context
	in := New(service.MockResources(), "test", func(ctx context.Context) (<-chan []*schemas.TelemetryEvent, error) {
		stopped = ctx
		return ch, nil
	})
	_, _, err := in.ReadBatch(t.Context())
	require.ErrorIs(t, err, service.ErrNotConnected)
	require.NoError(t, in.Connect(t.Context()))

	ev := &schemas.TelemetryEvent{SchemaVersion: 1, Kind: schemas.KindHostMetric, Time: time.Unix(1e9, 0), Source: "test",
		Metric: &schemas.Metric{Name: "x", Value: 1}}
	ch <- []*schemas.TelemetryEvent{ev}
	batch, ack, err := in.ReadBatch(t.Context())
	require.NoError(t, err)
	require.Len(t, batch, 1)
	got, err := envelope.Event(batch[0])
	require.NoError(t, err)
	require.Same(t, ev, got, "structured, not re-encoded")
	require.NoError(t, ack(t.Context(), nil))

	require.NoError(t, in.Close(t.Context()))
	require.Error(t, stopped.Err(), "Close cancels the collector")
	close(ch)
	_, _, err = in.ReadBatch(t.Context())
	require.ErrorIs(t, err, service.ErrEndOfInput)

	failing := New(service.MockResources(), "test", func(context.Context) (<-chan []*schemas.TelemetryEvent, error) {
		return nil, errors.New("no /proc")
	})
	require.ErrorContains(t, failing.Connect(t.Context()), "no /proc")
}

func TestIdle(t *testing.T) {
	in := Idle(service.MockResources(), "test")
	require.NoError(t, in.Connect(t.Context()))
	// Nothing arrives while open: a read waits until its context ends.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, _, err := in.ReadBatch(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	// Close ends the input cleanly.
	require.NoError(t, in.Close(t.Context()))
	_, _, err = in.ReadBatch(t.Context())
	require.ErrorIs(t, err, service.ErrEndOfInput)
}
