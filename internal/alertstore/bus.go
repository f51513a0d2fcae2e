package alertstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/amoskys/amoskys/plugins/bus"
	"github.com/amoskys/amoskys/schemas"
)

// AlertsTopic is the bus topic the detect pipeline publishes alerts to.
const AlertsTopic = "alerts"

// Ingest adds an alert that arrived from outside the process (the bus): it goes into the index
// and out to the hub's live subscribers unless the index already holds that version or a newer one.
// It reports whether the alert was new.
func (s *Store) Ingest(a *schemas.AlertEvent) bool {
	if e, ok := s.Index.Get(a.ID); ok && e.Alert.Version >= a.Version {
		return false
	}
	s.Index.Put(a)
	s.Hub.Publish(a)
	return true
}

// FollowBus reads the alerts topic of b in consumer group group until ctx ends, feeding Ingest.
// A message is acknowledged once its alerts are in the index; an undecodable record is skipped
// (and counted in the returned error channel's absence: it is reported through onError).
func (s *Store) FollowBus(ctx context.Context, b *bus.Bus, group string, onError func(error)) error {
	sub, err := b.Subscriber(group)
	if err != nil {
		return err
	}
	msgs, err := sub.Subscribe(ctx, AlertsTopic)
	if err != nil {
		_ = sub.Close()
		return err
	}
	go func() {
		defer sub.Close()
		for m := range msgs {
			recs, err := bus.Unpack(m)
			if err != nil {
				if onError != nil {
					onError(fmt.Errorf("alerts topic: %w", err))
				}
				m.Ack()
				continue
			}
			for _, r := range recs {
				var a schemas.AlertEvent
				if err := json.Unmarshal(r.Payload, &a); err != nil || !ValidID(a.ID) {
					if onError != nil {
						onError(fmt.Errorf("alerts topic: undecodable alert: %v", err))
					}
					continue
				}
				s.Ingest(&a)
			}
			m.Ack()
		}
	}()
	return nil
}
