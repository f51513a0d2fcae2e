// Package busbench measures bus throughput per backend through the Go API: events packed in
// batches (as the Benthos bus output does), published by one publisher and consumed, acked, by one
// subscriber in a consumer group, end to end.
package busbench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/amoskys/amoskys/plugins/bus"
	"github.com/amoskys/amoskys/schemas"
)

// Result is one backend's measurement.
type Result struct {
	Backend   string
	Events    int
	Batch     int
	Publish   time.Duration // until the last publish returned
	EndToEnd  time.Duration // until the last event was received and acked
	BytesEach int
}

// PublishRate is events/s published.
func (r Result) PublishRate() float64 { return float64(r.Events) / r.Publish.Seconds() }

// Rate is events/s end to end.
func (r Result) Rate() float64 { return float64(r.Events) / r.EndToEnd.Seconds() }

// Run publishes events TelemetryEvents in batches of batch to a fresh topic of dsn and reads them back.
func Run(ctx context.Context, dsn string, events, batch int) (Result, error) {
	b, err := bus.Open(dsn)
	if err != nil {
		return Result{}, err
	}
	defer b.Close()
	ev := schemas.TelemetryEvent{SchemaVersion: 1, ID: "x", Kind: schemas.KindHostMetric, Time: time.Now().UTC(),
		Host: "bench", Source: "host", Metric: &schemas.Metric{Name: "cpu.user", Value: 12.5, Unit: "percent"}}
	payload, _ := json.Marshal(ev)
	topic := fmt.Sprintf("bench%d", time.Now().UnixNano())
	sub, err := b.Subscriber("bench")
	if err != nil {
		return Result{}, err
	}
	defer sub.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		return Result{}, err
	}
	res := Result{Backend: b.Backend(), Events: events, Batch: batch, BytesEach: len(payload)}
	got := make(chan error, 1)
	t0 := time.Now()
	go func() {
		n := 0
		for n < events {
			select {
			case m := <-ch:
				recs, err := bus.Unpack(m)
				if err != nil {
					got <- err
					return
				}
				n += len(recs)
				m.Ack()
			case <-ctx.Done():
				got <- ctx.Err()
				return
			}
		}
		got <- nil
	}()
	recs := make([]bus.Record, 0, batch)
	md := map[string]string{"amoskys_type": "telemetry"}
	for sent := 0; sent < events; {
		recs = recs[:0]
		for len(recs) < batch && sent+len(recs) < events {
			recs = append(recs, bus.Record{Payload: payload, Metadata: md})
		}
		if err := b.Publisher().Publish(topic, []*message.Message{bus.Pack(recs)}...); err != nil {
			return res, err
		}
		sent += len(recs)
	}
	res.Publish = time.Since(t0)
	if err := <-got; err != nil {
		return res, err
	}
	res.EndToEnd = time.Since(t0)
	return res, nil
}
