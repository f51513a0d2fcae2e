package alert

import (
	"context"
	"fmt"
	"regexp"
	"sync"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/alertstore"
	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/schemas"
)

const (
	fieldDedupWindow    = "dedup_window"
	fieldMinSeverity    = "min_severity"
	fieldExceptions     = "exceptions"
	fieldMaxAlerts      = "max_alerts"
	fieldUpdateInterval = "update_interval"
	fieldMaxEvidence    = "max_evidence"
	fieldPublishLocal   = "publish_local"
)

func spec() *service.ConfigSpec {
	d := DefaultConfig()
	return service.NewConfigSpec().
		Categories("AMOSKYS").
		Summary("Deduplicates fused alerts, applies exceptions and keeps each alert's count, first/last seen and status.").
		Description(`Takes the AlertEvents fuse emits. Alerts of the same host, entity and cause (the leading
reason of each layer) within dedup_window (event time) fold into one: its count rises and an update
is emitted (count-only updates at most every update_interval; changes of score, severity or status at
once). exceptions suppress matching alerts (every field set must match). Memory is bounded by
max_alerts (least recently seen dropped first) and by expiry after dedup_window. Every emitted alert
is also published to the in-process hub the API's live stream reads (publish_local), and
acknowledgements made through the API are kept on later updates. Other message types pass through;
a batch holding the end-of-input control message (amoskys_eof, sent at the end of a replay) releases
every held-back count update.`).
		Fields(
			service.NewDurationField(fieldDedupWindow).
				Description("Repeats within this event time of the alert's last sighting raise its count instead of a new alert.").
				Default(d.DedupWindow.String()).Example("15m"),
			service.NewStringEnumField(fieldMinSeverity, "LOW", "MEDIUM", "HIGH", "CRITICAL").
				Description("Alerts below this severity are dropped.").Default(string(d.MinSeverity)),
			service.NewObjectListField(fieldExceptions,
				service.NewStringField("name").Description("Name of the exception, for logs.").Default(""),
				service.NewStringField("host").Description("Exact host; empty matches any.").Default(""),
				service.NewStringField("entity").Description("Regular expression (RE2) on the entity name; empty matches any.").Default("").Example(`^/usr/lib/postgresql/.*`),
				service.NewStringField("rule_id").Description("A reason id of any layer (e.g. a Sigma rule id); empty matches any.").Default(""),
				service.NewStringField("below_severity").Description("Suppress only alerts below this severity; empty suppresses every severity.").Default(""),
			).Description("Alerts matching every field set in one entry are suppressed (amoskys_alert_suppressed_total).").
				Default([]any{}).
				Example([]any{map[string]any{"name": "backup job", "host": "db1", "entity": "^/usr/bin/pg_dump$", "below_severity": "HIGH"}}),
			service.NewIntField(fieldMaxAlerts).Description("Most alerts held for deduplication (gauge amoskys_alert_held).").Default(d.MaxAlerts),
			service.NewDurationField(fieldUpdateInterval).
				Description("Count-only updates of one alert are emitted at most this often (event time); 0s emits every repeat.").
				Default(d.UpdateInterval.String()),
			service.NewIntField(fieldMaxEvidence).Description("Most evidence event ids kept per alert.").Default(d.MaxEvidence),
			service.NewBoolField(fieldPublishLocal).
				Description("Publish every emitted alert to the in-process hub the API streams from.").Default(true),
		).
		Example("Deduplicate for 15 minutes", "Skip the nightly backup and keep MEDIUM and above.", `
pipeline:
  processors:
    - fuse: {}
    - alert:
        dedup_window: 15m
        min_severity: MEDIUM
        exceptions:
          - name: backup
            entity: '^/usr/bin/pg_dump$'
            below_severity: HIGH
`)
}

func init() {
	service.MustRegisterBatchProcessor("alert", spec(), newProcessor)
}

type processor struct {
	mu      sync.Mutex
	a       *Alerter
	hub     *alertstore.Hub
	unsub   func()
	log     *service.Logger
	counts  map[Outcome]*service.MetricCounter
	failed  *service.MetricCounter
	evicted *service.MetricCounter
	held    *service.MetricGauge
	lastEv  int64
}

// ConfigFromParsed reads the plugin's fields.
func ConfigFromParsed(conf *service.ParsedConfig) (Config, bool, error) {
	cfg := DefaultConfig()
	var err error
	if cfg.DedupWindow, err = conf.FieldDuration(fieldDedupWindow); err != nil {
		return cfg, false, err
	}
	sev, err := conf.FieldString(fieldMinSeverity)
	if err != nil {
		return cfg, false, err
	}
	cfg.MinSeverity = schemas.Severity(sev)
	if cfg.MaxAlerts, err = conf.FieldInt(fieldMaxAlerts); err != nil {
		return cfg, false, err
	}
	if cfg.UpdateInterval, err = conf.FieldDuration(fieldUpdateInterval); err != nil {
		return cfg, false, err
	}
	if cfg.MaxEvidence, err = conf.FieldInt(fieldMaxEvidence); err != nil {
		return cfg, false, err
	}
	excs, err := conf.FieldObjectList(fieldExceptions)
	if err != nil {
		return cfg, false, err
	}
	for i, ec := range excs {
		var e Exception
		var ent, below string
		for name, dst := range map[string]*string{"name": &e.Name, "host": &e.Host, "entity": &ent, "rule_id": &e.RuleID, "below_severity": &below} {
			if *dst, err = ec.FieldString(name); err != nil {
				return cfg, false, err
			}
		}
		if ent != "" {
			if e.Entity, err = regexp.Compile(ent); err != nil {
				return cfg, false, fmt.Errorf("exceptions[%d].entity: %w", i, err)
			}
		}
		e.BelowSeverity = schemas.Severity(below)
		cfg.Exceptions = append(cfg.Exceptions, e)
	}
	pub, err := conf.FieldBool(fieldPublishLocal)
	return cfg, pub, err
}

func newProcessor(conf *service.ParsedConfig, res *service.Resources) (service.BatchProcessor, error) {
	cfg, pub, err := ConfigFromParsed(conf)
	if err != nil {
		return nil, err
	}
	a, err := New(cfg)
	if err != nil {
		return nil, err
	}
	m := res.Metrics()
	p := &processor{a: a, log: res.Logger(), counts: map[Outcome]*service.MetricCounter{},
		failed:  m.NewCounter("amoskys_alert_failed_total"),
		evicted: m.NewCounter("amoskys_alert_evicted_total"),
		held:    m.NewGauge("amoskys_alert_held"),
	}
	for _, o := range []Outcome{OutcomeNew, OutcomeUpdated, OutcomeFolded, OutcomeSuppressed, OutcomeBelowMin, OutcomeInvalid} {
		p.counts[o] = m.NewCounter("amoskys_alert_" + o.String() + "_total")
	}
	if pub {
		p.hub = alertstore.Default
		p.unsub = p.hub.OnStatus(func(c alertstore.StatusChange) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.a.SetStatus(c.ID, c.Status, c.By, c.At, c.Version)
		})
	}
	return p, nil
}

// nOutcomes is the number of Outcome values (OutcomeInvalid is the last).
const nOutcomes = int(OutcomeInvalid) + 1

func (p *processor) ProcessBatch(ctx context.Context, batch service.MessageBatch) ([]service.MessageBatch, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(service.MessageBatch, 0, len(batch))
	eof := false
	// Outcomes counted per batch: a counter's Incr per message costs more than most of them.
	var counts [nOutcomes]int64
	defer func() {
		for o, n := range counts {
			if n > 0 {
				p.counts[Outcome(o)].Incr(n)
			}
		}
	}()
	for _, msg := range batch {
		// Events and vectors are passed on by their payload, without a metadata lookup; the
		// end-of-input message holds no chain payload, so the metadata decides for it.
		if !envelope.Is(msg, envelope.TypeAlert) {
			eof = eof || (envelope.Is(msg, envelope.TypeControl) && envelope.IsEOF(msg))
			out = append(out, msg)
			continue
		}
		in, err := envelope.AlertOf(msg)
		if err != nil {
			p.failed.Incr(1)
			msg.SetError(err)
			msg.MetaSetMut(envelope.MetaDLQ, "alert: "+err.Error())
			out = append(out, msg)
			continue
		}
		a, o := p.a.Process(in)
		counts[o]++
		if o == OutcomeInvalid {
			msg.SetError(fmt.Errorf("alert: invalid alert (no id or host)"))
			msg.MetaSetMut(envelope.MetaDLQ, "alert: no id or host")
			out = append(out, msg)
			continue
		}
		if a != nil {
			out = p.emit(out, a)
		}
		// Held-back updates whose interval this alert's event time passed, right after it: the
		// same output whatever the batch boundaries (the watermark moves only here).
		for _, a := range p.a.Flush() {
			out = p.emit(out, a)
			counts[OutcomeUpdated]++
		}
	}
	if eof {
		// End of input: the vectors the window stage closed for it are in this batch (it emits
		// them beside the control message); release every held-back count.
		for _, a := range p.a.FlushAll() {
			out = p.emit(out, a)
			counts[OutcomeUpdated]++
		}
	}
	if ev := p.a.Evicted(); ev > p.lastEv {
		p.evicted.Incr(ev - p.lastEv)
		p.lastEv = ev
	}
	p.held.Set(int64(p.a.Held()))
	if len(out) == 0 {
		return nil, nil
	}
	return []service.MessageBatch{out}, nil
}

// emit appends a as a message to out and publishes it to the in-process hub.
func (p *processor) emit(out service.MessageBatch, a *schemas.AlertEvent) service.MessageBatch {
	nm := envelope.NewAlert(a)
	nm.MetaSetMut("amoskys_alert_id", a.ID)
	nm.MetaSetMut("amoskys_severity", string(a.Severity))
	if p.hub != nil {
		p.hub.Publish(a)
	}
	return append(out, nm)
}

func (p *processor) Close(context.Context) error {
	if p.unsub != nil {
		p.unsub()
	}
	return nil
}
