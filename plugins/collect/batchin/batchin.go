// Package batchin adapts a collector that emits batches of TelemetryEvents on a channel to a
// Benthos batch input. Every collect plugin's plugin.go uses it.
package batchin

import (
	"context"
	"sync"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/internal/metrics"
	"github.com/amoskys/amoskys/schemas"
)

// StartFunc starts a collector bound to ctx and returns its event channel, which the collector
// closes once ctx is done.
type StartFunc func(ctx context.Context) (<-chan []*schemas.TelemetryEvent, error)

// EventsTotal counts events emitted by the collect inputs (amoskys_collect_events_total{source}).
var EventsTotal = metrics.Counter("collect", "events", "Events emitted by the collect inputs, by source.", "source")

// Input is a service.BatchInput over a StartFunc. Telemetry cannot be re-read, so acks are no-ops.
type Input struct {
	start  StartFunc
	mu     sync.Mutex
	ch     <-chan []*schemas.TelemetryEvent
	cancel context.CancelFunc
	source string
}

// New returns an Input for the collector named source (the metric label).
func New(_ *service.Resources, source string, start StartFunc) *Input {
	return &Input{start: start, source: source}
}

// Idle returns an Input that emits nothing until it is closed: a collector with nothing
// configured (no SNMP targets, no discovery ranges) stays in the pipeline without failing it.
func Idle(mgr *service.Resources, source string) *Input {
	return New(mgr, source, func(ctx context.Context) (<-chan []*schemas.TelemetryEvent, error) {
		ch := make(chan []*schemas.TelemetryEvent)
		go func() { <-ctx.Done(); close(ch) }()
		return ch, nil
	})
}

// Connect starts the collector.
func (in *Input) Connect(context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.ch != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := in.start(ctx)
	if err != nil {
		cancel()
		return err
	}
	in.ch, in.cancel = ch, cancel
	return nil
}

// ReadBatch returns the next batch of events as messages.
func (in *Input) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	in.mu.Lock()
	ch := in.ch
	in.mu.Unlock()
	if ch == nil {
		return nil, nil, service.ErrNotConnected
	}
	select {
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case evs, ok := <-ch:
		if !ok {
			return nil, nil, service.ErrEndOfInput
		}
		batch := make(service.MessageBatch, len(evs))
		for i, ev := range evs {
			batch[i] = envelope.NewEvent(ev)
		}
		EventsTotal.WithLabelValues(in.source).Add(float64(len(evs)))
		return batch, func(context.Context, error) error { return nil }, nil
	}
}

// Close stops the collector.
func (in *Input) Close(context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cancel != nil {
		in.cancel()
	}
	return nil
}
