// Package batchin adapts a collector that emits batches of TelemetryEvents on a channel to a
// Benthos batch input. Every collect plugin's plugin.go uses it.
package batchin

import (
	"context"
	"sync"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/schemas"
)

// StartFunc starts a collector bound to ctx and returns its event channel, which the collector
// closes once ctx is done.
type StartFunc func(ctx context.Context) (<-chan []*schemas.TelemetryEvent, error)

// Input is a service.BatchInput over a StartFunc. Telemetry cannot be re-read, so acks are no-ops.
type Input struct {
	start  StartFunc
	mu     sync.Mutex
	ch     <-chan []*schemas.TelemetryEvent
	cancel context.CancelFunc
	events *service.MetricCounter
}

// New returns an Input; metrics go under the name amoskys_collect_events_total{source}.
func New(mgr *service.Resources, source string, start StartFunc) *Input {
	return &Input{start: start, events: mgr.Metrics().NewCounter("amoskys_collect_events_total", "source")}
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
		in.events.Incr(int64(len(evs)), sourceOf(evs))
		return batch, func(context.Context, error) error { return nil }, nil
	}
}

func sourceOf(evs []*schemas.TelemetryEvent) string {
	if len(evs) > 0 {
		return evs[0].Source
	}
	return ""
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
