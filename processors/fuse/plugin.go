package fuse

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/schemas"
)

const (
	fieldWeights            = "weights"
	fieldThresholds         = "thresholds"
	fieldMinScore           = "min_score"
	fieldAgreementThreshold = "agreement_threshold"
	fieldAgreementBonus     = "agreement_bonus"
	fieldLevelFloors        = "level_floors"
	fieldSoloCaps           = "solo_caps"
	fieldOpenFor            = "open_for"
	fieldMaxOpen            = "max_open"
	fieldMaxReasons         = "max_reasons"
	fieldMaxEvidence        = "max_evidence"
	fieldKeepInput          = "keep_input"
)

func spec() *service.ConfigSpec {
	d := DefaultConfig()
	return service.NewConfigSpec().
		Categories("AMOSKYS").
		Summary("Fuses the geometric, temporal and iforest layer results on each message into one scored alert.").
		Description(`Reads the layer results attached to telemetry events and feature vectors (metadata
amoskys_layers). A missing or abstaining layer abstains: weights are renormalised over the layers that
spoke. Two or more layers at or above agreement_threshold move the score towards their noisy-OR; a
reason whose Sigma level is in level_floors lifts the score to at least that floor. Results for the
same host and entity within open_for (event time) fold into one open alert that keeps its id and a
history of score changes. Emits an AlertEvent message (amoskys_type=alert) for every input whose
alert scores at least min_score; other inputs are dropped unless keep_input is set. Alert messages
already in the stream pass through untouched.`).
		Fields(
			service.NewFloatMapField(fieldWeights).
				Description("Weight of each layer before renormalisation over the layers present; a layer not named has weight 1.").
				Default(map[string]any{"geometric": d.Weights["geometric"], "temporal": d.Weights["temporal"], "iforest": d.Weights["iforest"]}).
				Example(map[string]any{"geometric": 0.6, "temporal": 0.2, "iforest": 0.2}),
			service.NewObjectField(fieldThresholds,
				service.NewFloatField("low").Description("Lowest score of a LOW alert.").Default(d.Thresholds.Low),
				service.NewFloatField("medium").Description("Lowest score of a MEDIUM alert.").Default(d.Thresholds.Medium),
				service.NewFloatField("high").Description("Lowest score of a HIGH alert.").Default(d.Thresholds.High),
				service.NewFloatField("critical").Description("Lowest score of a CRITICAL alert.").Default(d.Thresholds.Critical),
			).Description("Severity thresholds on the fused score (0..1)."),
			service.NewFloatField(fieldMinScore).
				Description("Fused scores below this raise no alert (a later layer may still lift the entity above it).").
				Default(d.MinScore).Example(0.5),
			service.NewFloatField(fieldAgreementThreshold).
				Description("A layer agrees when its score is at least this.").Default(d.AgreementThreshold),
			service.NewFloatField(fieldAgreementBonus).
				Description("With two or more agreeing layers, the fraction of the gap between the weighted mean and the noisy-OR that is added (0 = none, 1 = noisy-OR).").
				Default(d.AgreementBonus),
			service.NewFloatMapField(fieldLevelFloors).
				Description("Minimum fused score when any reason carries the Sigma level named: a rule keeps its severity when the statistics find the entity ordinary, and critical alone is enough for CRITICAL. Levels not named (low, informational) can be lowered by quiet statistics.").
				Default(map[string]any{"critical": d.LevelFloors["critical"], "high": d.LevelFloors["high"], "medium": d.LevelFloors["medium"]}).
				Example(map[string]any{"critical": 0.95}),
			service.NewFloatMapField(fieldSoloCaps).
				Description("Highest fused score when only the named layer spoke: statistics alone stay below CRITICAL, which takes agreement between layers or a critical rule.").
				Default(map[string]any{"temporal": d.SoloCaps["temporal"], "iforest": d.SoloCaps["iforest"]}).
				Example(map[string]any{"temporal": 0.69, "iforest": 0.69}),
			service.NewDurationField(fieldOpenFor).
				Description("How long after its last result (event time) an alert still takes later results of the same host and entity.").
				Default(d.OpenFor.String()).Example("5m"),
			service.NewIntField(fieldMaxOpen).
				Description("Most entities held at once; the least recently updated is dropped first (amoskys_fuse_dropped_total).").
				Default(d.MaxOpen),
			service.NewIntField(fieldMaxReasons).Description("Most reasons kept per layer.").Default(d.MaxReasons),
			service.NewIntField(fieldMaxEvidence).Description("Most evidence event ids kept per alert.").Default(d.MaxEvidence),
			service.NewBoolField(fieldKeepInput).
				Description("Pass the input messages on after the alerts instead of dropping them.").
				Default(false).Advanced(),
		).
		Example("Default weights", "Fusion as the detect pipeline uses it.", `
pipeline:
  processors:
    - fuse:
        min_score: 0.3
        open_for: 10m
        thresholds: { low: 0.3, medium: 0.5, high: 0.7, critical: 0.9 }
`)
}

func init() {
	service.MustRegisterBatchProcessor("fuse", spec(), newProcessor)
}

type processor struct {
	mu        sync.Mutex
	f         *Fuser
	keepInput bool
	log       *service.Logger

	in, alerts, failed, skipped, dropped *service.MetricCounter
	open                                 *service.MetricGauge
	lastDropped                          int64
}

func newProcessor(conf *service.ParsedConfig, res *service.Resources) (service.BatchProcessor, error) {
	cfg := DefaultConfig()
	var err error
	if cfg.Weights, err = conf.FieldFloatMap(fieldWeights); err != nil {
		return nil, err
	}
	for name, dst := range map[string]*float64{"low": &cfg.Thresholds.Low, "medium": &cfg.Thresholds.Medium,
		"high": &cfg.Thresholds.High, "critical": &cfg.Thresholds.Critical} {
		if *dst, err = conf.FieldFloat(fieldThresholds, name); err != nil {
			return nil, err
		}
	}
	for name, dst := range map[string]*float64{fieldMinScore: &cfg.MinScore,
		fieldAgreementThreshold: &cfg.AgreementThreshold, fieldAgreementBonus: &cfg.AgreementBonus} {
		if *dst, err = conf.FieldFloat(name); err != nil {
			return nil, err
		}
	}
	if cfg.LevelFloors, err = conf.FieldFloatMap(fieldLevelFloors); err != nil {
		return nil, err
	}
	lf := make(map[string]float64, len(cfg.LevelFloors))
	for k, v := range cfg.LevelFloors {
		lf[strings.ToLower(k)] = v
	}
	cfg.LevelFloors = lf
	if cfg.SoloCaps, err = conf.FieldFloatMap(fieldSoloCaps); err != nil {
		return nil, err
	}
	if cfg.OpenFor, err = conf.FieldDuration(fieldOpenFor); err != nil {
		return nil, err
	}
	for name, dst := range map[string]*int{fieldMaxOpen: &cfg.MaxOpen, fieldMaxReasons: &cfg.MaxReasons, fieldMaxEvidence: &cfg.MaxEvidence} {
		if *dst, err = conf.FieldInt(name); err != nil {
			return nil, err
		}
	}
	keep, err := conf.FieldBool(fieldKeepInput)
	if err != nil {
		return nil, err
	}
	f, err := New(cfg)
	if err != nil {
		return nil, err
	}
	m := res.Metrics()
	return &processor{
		f: f, keepInput: keep, log: res.Logger(),
		in:      m.NewCounter("amoskys_fuse_messages_total"),
		alerts:  m.NewCounter("amoskys_fuse_alerts_total"),
		failed:  m.NewCounter("amoskys_fuse_failed_total"),
		skipped: m.NewCounter("amoskys_fuse_skipped_total"),
		dropped: m.NewCounter("amoskys_fuse_dropped_total"),
		open:    m.NewGauge("amoskys_fuse_open_entities"),
	}, nil
}

func (p *processor) ProcessBatch(ctx context.Context, batch service.MessageBatch) ([]service.MessageBatch, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(service.MessageBatch, 0, len(batch))
	var alerts, failed, skipped int64
	for _, msg := range batch {
		typ := envelope.Type(msg)
		if typ == envelope.TypeAlert || typ == envelope.TypeControl {
			out = append(out, msg)
			continue
		}
		layers := envelope.Layers(msg)
		var in Input
		var err error
		if len(layers) == 0 {
			// Most messages (telemetry no rule matched): nothing to fold, only the payload must
			// decode (a bad one still fails as inputOf would fail it), so no Input is built.
			err = decodes(msg, typ)
		} else {
			in, err = inputOf(msg, typ, layers, false)
		}
		if err != nil {
			failed++
			msg.SetError(err)
			msg.MetaSetMut(envelope.MetaDLQ, "fuse: "+err.Error())
			out = append(out, msg)
			continue
		}
		switch {
		case len(layers) == 0:
			skipped++
		case !Spoke(layers) && !p.f.Holds(in.Time, in.Host, in.EntityKey):
			// Every layer abstained and no open alert takes it: nothing to fold (Holds did
			// what Process would have done with it).
		default:
			in.EvidenceIDs = evidence(msg, typ)
			if a, ok := p.f.Process(in); ok {
				alerts++
				out = append(out, envelope.NewAlert(a))
			}
		}
		if p.keepInput {
			out = append(out, msg)
		}
	}
	// Counters once per batch: a labelled counter's lookup per message costs more than the work.
	p.in.Incr(int64(len(batch)))
	if alerts > 0 {
		p.alerts.Incr(alerts)
	}
	if failed > 0 {
		p.failed.Incr(failed)
	}
	if skipped > 0 {
		p.skipped.Incr(skipped)
	}
	ev, ex := p.f.Dropped()
	if d := ev + ex; d > p.lastDropped {
		p.dropped.Incr(d - p.lastDropped)
		p.lastDropped = d
	}
	p.open.Set(int64(p.f.Open()))
	if len(out) == 0 {
		return nil, nil
	}
	return []service.MessageBatch{out}, nil
}

func (p *processor) Close(context.Context) error { return nil }

// InputOf reads what fuse needs from a telemetry or features message and its layer results.
func InputOf(msg *service.Message) (Input, error) {
	typ := envelope.Type(msg)
	in, err := inputOf(msg, typ, envelope.Layers(msg), true)
	return in, err
}

// inputOf is InputOf for a message of type typ carrying layers; the evidence ids (a new slice)
// only when asked for. A message with no layers is only decoded (a bad payload still fails).
func inputOf(msg *service.Message, typ string, layers []schemas.LayerResult, withEvidence bool) (Input, error) {
	in := Input{Layers: layers}
	switch typ {
	case envelope.TypeFeatures:
		fv, err := envelope.FeaturesOf(msg)
		if err != nil {
			return in, err
		}
		if len(layers) == 0 {
			return in, nil
		}
		in.Time, in.Host, in.EntityKey, in.Entity = fv.End, fv.Host, fv.Key, fv.Entity
		in.EntityKind = fv.KeyKind
	case envelope.TypeTelemetry:
		ev, err := envelope.EventOf(msg)
		if err != nil {
			return in, err
		}
		if len(layers) == 0 {
			return in, nil
		}
		in.Time, in.Host = ev.Time, ev.Host
		in.EntityKey, in.Entity, in.EntityKind = EntityOf(ev)
	default:
		return in, fmt.Errorf("fuse: unexpected message type %q", typ)
	}
	if withEvidence {
		in.EvidenceIDs = evidence(msg, typ)
	}
	if in.EntityKey == "" {
		for _, r := range in.Layers {
			if r.Entity != "" {
				in.EntityKey = r.Entity
				break
			}
		}
	}
	if in.EntityKey == "" {
		in.EntityKey = fallbackKey(msg)
	}
	if in.Entity == "" {
		in.Entity = in.EntityKey
	}
	if in.Time.IsZero() {
		for _, r := range in.Layers {
			if r.Time.After(in.Time) {
				in.Time = r.Time
			}
		}
	}
	return in, nil
}

// decodes is inputOf's check of a message without layers: its payload decodes as its type.
func decodes(msg *service.Message, typ string) error {
	var err error
	switch typ {
	case envelope.TypeFeatures:
		_, err = envelope.FeaturesOf(msg)
	case envelope.TypeTelemetry:
		_, err = envelope.EventOf(msg)
	default:
		err = fmt.Errorf("fuse: unexpected message type %q", typ)
	}
	return err
}

// evidence is the event ids a message stands for: a vector's own id then its events', or the
// event's id.
func evidence(msg *service.Message, typ string) []string {
	if typ == envelope.TypeFeatures {
		if fv, err := envelope.FeaturesOf(msg); err == nil {
			return append([]string{fv.ID}, fv.EventIDs...)
		}
		return nil
	}
	if ev, err := envelope.EventOf(msg); err == nil {
		return []string{ev.ID}
	}
	return nil
}

// fallbackKey keys an event nobody named: by owning pid for a connection, else by kind.
func fallbackKey(msg *service.Message) string {
	if ev, err := envelope.Event(msg); err == nil {
		if ev.Conn != nil && ev.Conn.PID != 0 {
			return "pid:" + strconv.FormatInt(int64(ev.Conn.PID), 10)
		}
		return "kind:" + string(ev.Kind)
	}
	return "unknown"
}

// EntityOf names the entity a telemetry event is about, with the key the window stage gives it
// (proc:PID@START for a process) so rule results and window statistics fold together.
func EntityOf(ev *schemas.TelemetryEvent) (key, name, kind string) {
	switch {
	case ev.Process != nil:
		p := ev.Process
		name = p.Exe
		if name == "" {
			name = p.Name
		}
		return procKey(p.PID, p.StartTime.Unix()), name, "process"
	case ev.Conn != nil:
		c := ev.Conn
		name = c.Exe
		if name == "" {
			name = c.Process
		}
		if c.PID != 0 {
			return "", name, "process" // the pid alone is no stable key: the layer's entity decides
		}
		b := make([]byte, 0, 16+len(c.Proto))
		b = append(append(append(b, "port:"...), c.Proto...), '/')
		return string(strconv.AppendUint(b, uint64(c.LocalPort), 10)), name, "process"
	case ev.Metric != nil:
		if ev.Metric.Device != "" {
			return "dev:" + ev.Metric.Device, ev.Metric.Device, "device"
		}
		return "host", ev.Metric.Name, "metric"
	case ev.Device != nil:
		return "dev:" + ev.Device.Address, firstNonEmpty(ev.Device.SysName, ev.Device.Address), "device"
	}
	return "", "", "host"
}

// procKey is "proc:PID@START" (the window stage's process key) built with one allocation.
func procKey(pid int32, start int64) string {
	b := make([]byte, 0, 32)
	b = append(b, "proc:"...)
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, '@')
	return string(strconv.AppendInt(b, start, 10))
}
