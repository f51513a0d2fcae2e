package normalise

import (
	"context"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/internal/metrics"
	"github.com/amoskys/amoskys/schemas"
)

const (
	fieldHost     = "host"
	fieldMaxBytes = "max_bytes"

	// MetaKind carries the event kind so outputs can route by it without decoding.
	MetaKind = "amoskys_kind"
	// MetaEventID carries the stable event id.
	MetaEventID = "amoskys_event_id"
)

// EventsTotal counts events by status: ok, or the rejection reason (amoskys_normalise_events_total).
var EventsTotal = metrics.Counter("normalise", "events",
	"Events through the normalise processor, by status (ok or the dead-letter reason).", "status")

func spec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Utility").
		Summary("Turns every message into a valid AMOSKYS TelemetryEvent, or marks it failed for the dead-letter route.").
		Description(`
Accepts messages holding a TelemetryEvent, either as the structured value our collectors emit or
as JSON bytes from an outside producer (`+"`http_server`"+`, `+"`file`"+`, any input).
It fills the host identity, converts times to UTC, converts metric units to the canonical ones
(`+"`%`"+` → percent, KB/MiB/GB → bytes, KB/s → bytes_per_s, ms/us/ns → seconds; unknown units kept),
and sets a stable event id (a hash of host,
kind, entity identity, event time and distinguishing fields) so a retried insert never
double-counts.

Messages that are malformed, oversized, of an unknown kind, missing required fields, with
NaN/Inf values or a wrong `+"`schema_version`"+` are marked failed (use `+"`switch`"+` with
`+"`errored()`"+` or a `+"`catch`"+` to route them) and get the metadata
`+"`amoskys_dlq_reason`"+` = "<reason>: <detail>". Counted in
`+"`amoskys_normalise_events_total{status}`"+`. Good messages get metadata `+"`amoskys_type`"+`,
`+"`amoskys_kind`"+` and `+"`amoskys_event_id`"+`.`).
		Field(service.NewStringField(fieldHost).
			Description("Host identity written into events that carry none. Empty: the env var AMOSKYS_HOST_ID, else the OS hostname.").
			Default("").
			Example("web-01")).
		Field(service.NewIntField(fieldMaxBytes).
			Description("Largest accepted event, in bytes of JSON (estimated for structured events). Larger ones are dead-lettered as oversized.").
			Default(DefaultMaxBytes).
			Example(1<<20).
			Advanced()).
		Example("Normalise outside producers", "Accept TelemetryEvent JSON over HTTP and dead-letter what is bad.", `
input:
  http_server:
    address: 127.0.0.1:4196
    path: /telemetry
pipeline:
  processors:
    - normalise: {}
output:
  switch:
    cases:
      - check: errored()
        output:
          stdout: {}
      - output:
          stdout: {}
`)
}

func init() {
	err := service.RegisterBatchProcessor("normalise", spec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchProcessor, error) {
			return newProcessor(conf, mgr)
		})
	if err != nil {
		panic(err)
	}
}

type processor struct {
	n      *Normaliser
	log    *service.Logger
	ok     *service.MetricCounter
	failed *service.MetricCounter
}

func newProcessor(conf *service.ParsedConfig, mgr *service.Resources) (*processor, error) {
	host, err := conf.FieldString(fieldHost)
	if err != nil {
		return nil, err
	}
	maxBytes, err := conf.FieldInt(fieldMaxBytes)
	if err != nil {
		return nil, err
	}
	return &processor{
		n:      New(Config{Host: host, MaxBytes: maxBytes}),
		log:    mgr.Logger(),
		ok:     mgr.Metrics().NewCounter("amoskys_normalise_ok_total"),
		failed: mgr.Metrics().NewCounter("amoskys_normalise_failed_total", "reason"),
	}, nil
}

// ProcessBatch normalises every message in place; bad ones are marked failed with a reason.
func (p *processor) ProcessBatch(_ context.Context, batch service.MessageBatch) ([]service.MessageBatch, error) {
	for _, msg := range batch {
		ev, err := p.one(msg)
		if err != nil {
			reason := ReasonOf(err)
			msg.MetaSetMut(envelope.MetaDLQ, err.Error())
			msg.SetError(err)
			EventsTotal.WithLabelValues(string(reason)).Inc()
			p.failed.Incr(1, string(reason))
			p.log.Debugf("normalise: dead-lettering message: %v", err)
			continue
		}
		envelope.SetEvent(msg, ev)
		msg.MetaSetMut(MetaKind, string(ev.Kind))
		msg.MetaSetMut(MetaEventID, ev.ID)
		EventsTotal.WithLabelValues("ok").Inc()
		p.ok.Incr(1)
	}
	return []service.MessageBatch{batch}, nil
}

func (p *processor) one(msg *service.Message) (*schemas.TelemetryEvent, error) {
	if t := envelope.Type(msg); t != envelope.TypeTelemetry {
		return nil, fail(ReasonMalformed, "message type %q is not telemetry", t)
	}
	if v, err := msg.AsStructured(); err == nil {
		if ev, ok := v.(*schemas.TelemetryEvent); ok {
			if err := p.n.Event(ev); err != nil {
				return nil, err
			}
			return ev, nil
		}
	}
	b, err := msg.AsBytes()
	if err != nil {
		return nil, fail(ReasonMalformed, "%v", err)
	}
	return p.n.Decode(b)
}

// Close releases nothing.
func (p *processor) Close(context.Context) error { return nil }
