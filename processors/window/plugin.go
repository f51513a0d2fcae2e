package window

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/schemas"
)

const (
	fieldWindows     = "windows"
	fieldLateness    = "allowed_lateness"
	fieldMaxKeys     = "max_keys"
	fieldKeyIdle     = "key_idle"
	fieldMaxSeen     = "max_seen"
	fieldNormalise   = "normalise"
	fieldHistory     = "history"
	fieldSpikeZ      = "spike_z"
	fieldMinHistory  = "min_history"
	fieldMaxEventIDs = "max_event_ids"
	fieldKeyKinds    = "key_kinds"

	// MetaEOF on a message ends the input (a replay's last message): the windows ending by the
	// end of the input's range (envelope.MetaEOFTime) are closed (Window.End), every open window
	// without it (Window.Flush); the message passes on and the vectors follow it.
	MetaEOF = envelope.MetaEOF
)

func spec() *service.ConfigSpec {
	d := DefaultConfig()
	var wins []any
	for _, w := range d.Windows {
		kinds := []any{}
		for _, k := range w.Kinds {
			kinds = append(kinds, k)
		}
		wins = append(wins, map[string]any{"size": w.Size.String(), "slide": w.Slide.String(), "key_kinds": kinds})
	}
	kinds := []any{}
	for _, k := range d.KeyKinds {
		kinds = append(kinds, k)
	}
	return service.NewConfigSpec().
		Categories("AMOSKYS").
		Summary("Event-time windows over telemetry: per host, process (pid@start), interface and device aggregates emitted as feature vectors.").
		Description(`Passes every message on at once and, when the event-time watermark of a host (its latest
event time minus allowed_lateness) passes the end of a window, emits one FeatureVector message
(amoskys_type=features) per key with data in that window, right after the event that closed it.
Feature names and their order per key kind are fixed (processors/window/features.go; `+"`HostFeatures`"+`,
`+"`ProcessFeatures`"+`, `+"`InterfaceFeatures`"+`, `+"`DeviceFeatures`"+`). Events older than a closed window are
late: counted (amoskys_window_late_total), passed on, not aggregated. Output depends only on the
events and their order, never on batch boundaries or the wall clock. A message with metadata
amoskys_eof (the end of a replay) with amoskys_eof_time (the end of the input's event-time range: the
replay's --to, else just after its last event) closes every window that ends by then: the windows
allowed_lateness still held back and those the range ends with; a window the range cuts short stays
open (judged on part of its length, its counts and rates would look like anomalies). Without
amoskys_eof_time it flushes every open window. State is sharded by host under locks, so
pipeline.threads > 1 is safe; it is bounded by max_keys (gauge amoskys_window_keys), key_idle and
max_seen.

Feature names, in order, per key kind:
`+featureDoc()).
		Fields(
			service.NewObjectListField(fieldWindows,
				service.NewDurationField("size").Description("Window length."),
				service.NewDurationField("slide").Description("A new window starts every slide; equal to size for tumbling windows. size must be a multiple of slide."),
				service.NewStringListField("key_kinds").Description("Key kinds this window is computed for (host, process, interface, device); empty: all.").Default([]any{}),
			).Description("The windows computed for every key.").Default(wins).
				Example([]any{map[string]any{"size": "1m", "slide": "1m"}, map[string]any{"size": "5m", "slide": "1m"}}),
			service.NewDurationField(fieldLateness).Description("How far behind a host's latest event time an event may arrive and still count.").Default(d.AllowedLateness.String()).Example("30s"),
			service.NewIntField(fieldMaxKeys).Description("Most keys held over all hosts; new keys beyond it are not aggregated (amoskys_window_keys_dropped_total).").Default(d.MaxKeys),
			service.NewDurationField(fieldKeyIdle).Description("A key with no open window and no event for this long (event time) is forgotten, with its normalisation history.").Default(d.KeyIdle.String()),
			service.NewIntField(fieldMaxSeen).Description("Most executables, remote addresses and listeners remembered per host for the first-seen counts and flags.").Default(d.MaxSeen),
			service.NewStringEnumField(fieldNormalise, NormRobust, NormMinMax).Description("How Normalised is computed from the key's history: robust = logistic of (v - median)/(IQR/1.349), 0.5 at the median; minmax = (v - min)/(max - min).").Default(d.Normalise),
			service.NewIntField(fieldHistory).Description("Window values kept per key, window and feature for normalisation.").Default(d.History),
			service.NewFloatField(fieldSpikeZ).Description("A feature whose robust z-score is at least this (upwards) flags spike and spike:<feature>.").Default(d.SpikeZ),
			service.NewIntField(fieldMinHistory).Description("Windows of history needed before spikes are flagged.").Default(d.MinHistory),
			service.NewIntField(fieldMaxEventIDs).Description("Event ids sampled into each vector.").Default(d.MaxEventIDs),
			service.NewStringListField(fieldKeyKinds).Description("Key kinds to emit: host, process, interface, device.").Default(kinds),
		).
		Example("Defaults", "One-minute tumbling, five-minute and one-hour sliding windows.", `
pipeline:
  processors:
    - window:
        allowed_lateness: 10s
        windows:
          - { size: 1m, slide: 1m }
          - { size: 5m, slide: 1m, key_kinds: [ host, interface, device ] }
          - { size: 1h, slide: 5m, key_kinds: [ host, device ] }
`)
}

// featureDoc lists every key kind's features in order, with how each is computed.
func featureDoc() string {
	var b strings.Builder
	for _, k := range []string{KindHost, KindProcess, KindInterface, KindDevice} {
		fmt.Fprintf(&b, "\n- %s:", k)
		for i, f := range featureList(k) {
			sep := ","
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(&b, "%s `%s` (%s of %s)", sep, f.Name, f.Agg, f.Source)
		}
	}
	return b.String()
}

func init() {
	service.MustRegisterBatchProcessor("window", spec(), newProcessor)
}

type processor struct {
	w   *Window
	log *service.Logger

	events, late, invalid, vectors, failed, dropped *service.MetricCounter
	keys                                            *service.MetricGauge
	mu                                              sync.Mutex // guards last
	last                                            Stats
}

func newProcessor(conf *service.ParsedConfig, res *service.Resources) (service.BatchProcessor, error) {
	cfg := DefaultConfig()
	wins, err := conf.FieldObjectList(fieldWindows)
	if err != nil {
		return nil, err
	}
	cfg.Windows = nil
	for _, w := range wins {
		var s Spec
		if s.Size, err = w.FieldDuration("size"); err != nil {
			return nil, err
		}
		if s.Slide, err = w.FieldDuration("slide"); err != nil {
			return nil, err
		}
		if w.Contains("key_kinds") {
			if s.Kinds, err = w.FieldStringList("key_kinds"); err != nil {
				return nil, err
			}
		}
		cfg.Windows = append(cfg.Windows, s)
	}
	for name, dst := range map[string]*time.Duration{fieldLateness: &cfg.AllowedLateness, fieldKeyIdle: &cfg.KeyIdle} {
		if *dst, err = conf.FieldDuration(name); err != nil {
			return nil, err
		}
	}
	for name, dst := range map[string]*int{fieldMaxKeys: &cfg.MaxKeys, fieldMaxSeen: &cfg.MaxSeen, fieldHistory: &cfg.History,
		fieldMinHistory: &cfg.MinHistory, fieldMaxEventIDs: &cfg.MaxEventIDs} {
		if *dst, err = conf.FieldInt(name); err != nil {
			return nil, err
		}
	}
	if cfg.Normalise, err = conf.FieldString(fieldNormalise); err != nil {
		return nil, err
	}
	if cfg.SpikeZ, err = conf.FieldFloat(fieldSpikeZ); err != nil {
		return nil, err
	}
	if cfg.KeyKinds, err = conf.FieldStringList(fieldKeyKinds); err != nil {
		return nil, err
	}
	w, err := New(cfg)
	if err != nil {
		return nil, err
	}
	m := res.Metrics()
	return &processor{w: w, log: res.Logger(),
		events:  m.NewCounter("amoskys_window_events_total"),
		late:    m.NewCounter("amoskys_window_late_total"),
		invalid: m.NewCounter("amoskys_window_invalid_time_total"),
		vectors: m.NewCounter("amoskys_window_vectors_total"),
		failed:  m.NewCounter("amoskys_window_failed_total"),
		dropped: m.NewCounter("amoskys_window_keys_dropped_total"),
		keys:    m.NewGauge("amoskys_window_keys"),
	}, nil
}

func (p *processor) ProcessBatch(ctx context.Context, batch service.MessageBatch) ([]service.MessageBatch, error) {
	out := make(service.MessageBatch, 0, len(batch))
	ad := p.w.Adder() // one shard lock per run of a host's events, not one per event
	defer ad.Release()
	for _, msg := range batch {
		out = append(out, msg)
		typ := envelope.Type(msg)
		// An event already decoded (the replay source, or an earlier stage) is no control
		// message: one metadata lookup per message instead of three on the hot path.
		var ev *schemas.TelemetryEvent
		if typ == envelope.TypeTelemetry && msg.HasStructured() {
			if v, err := msg.AsStructured(); err == nil {
				ev, _ = v.(*schemas.TelemetryEvent)
			}
		}
		if ev == nil && envelope.IsEOF(msg) {
			ad.Release() // Flush and End lock every shard
			end := p.w.Flush
			if until := envelope.EOFTime(msg); !until.IsZero() {
				end = func() []*schemas.FeatureVector { return p.w.End(until) }
			}
			for _, fv := range end() {
				out = append(out, envelope.NewFeatures(fv))
			}
			continue
		}
		if typ != envelope.TypeTelemetry {
			continue
		}
		var err error
		if ev == nil {
			ev, err = envelope.EventOf(msg)
		}
		if err != nil {
			p.failed.Incr(1)
			msg.SetError(err)
			msg.MetaSetMut(envelope.MetaDLQ, "window: "+err.Error())
			continue
		}
		for _, fv := range ad.Add(ev) {
			out = append(out, envelope.NewFeatures(fv))
		}
	}
	ad.Release() // Stats locks every shard
	p.metrics()
	return []service.MessageBatch{out}, nil
}

func (p *processor) metrics() {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.w.Stats()
	p.events.Incr(s.Events - p.last.Events)
	p.late.Incr(s.Late - p.last.Late)
	p.invalid.Incr(s.Invalid - p.last.Invalid)
	p.vectors.Incr(s.Vectors - p.last.Vectors)
	p.dropped.Incr(s.KeysDropped - p.last.KeysDropped)
	p.keys.Set(int64(s.Keys))
	p.last = s
}

// Close flushes every window. A Benthos processor cannot emit from Close, so the flushed
// vectors are counted and logged; a replay ends its input with an amoskys_eof message, which
// closes the windows its range holds inside the stream (Window.End) before Close runs.
func (p *processor) Close(context.Context) error {
	n := len(p.w.Flush())
	p.metrics()
	if n > 0 {
		p.log.Infof("window: %d feature vectors of open windows flushed at shutdown (send an amoskys_eof message to emit them)", n)
	}
	return nil
}
