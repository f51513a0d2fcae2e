package geometric

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/processors/geometric/sigma"
)

const (
	fieldRulesDirs = "rules_dirs"
	fieldSigmaDirs = "sigma_dirs"
	fieldAllow     = "allow"
	fieldWatch     = "watch"
	fieldDebounce  = "reload_debounce"
)

// DefaultRulesDir is the rules directory when rules_dirs is not set: $AMOSKYS_RULES_DIR or ./rules.
func DefaultRulesDir() string {
	if d := os.Getenv("AMOSKYS_RULES_DIR"); d != "" {
		return d
	}
	return "./rules"
}

func spec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Categories("AMOSKYS").
		Summary("The geometric layer: Sigma rules over the process tree, privilege and network topology of each telemetry event.").
		Description(`Judges telemetry events of kind process_exec (logsource category process_creation),
connection (network_connection) and listener (network_listener, AMOSKYS' own category) with Sigma rules.
SigmaHQ Linux rules load unchanged; our own rules may read the extra tree and privilege fields
(AncestorImages, ParentUid, Euid, ExeDeleted, StdioSocket, CapEffNonZero, ...: see `+"`amoskys rules fields`"+`).
A match attaches a schemas.LayerResult (layer geometric) to the message's amoskys_layers metadata: the
score is the highest matching rule level (informational 0.1, low 0.3, medium 0.5, high 0.75, critical
0.95) raised by the other matches, and one reason per rule with its id, title, MITRE tags and the
evidence fields and values. No match attaches nothing (the layer says nothing). Every message passes
on; feature vectors and alerts pass untouched. Rules reload atomically when their files change.`).
		Fields(
			service.NewStringListField(fieldRulesDirs).
				Description("Directories (or files) of our own rules, read recursively, following symbolic links; a `tests` subdirectory holds fixtures and is skipped. Empty: $AMOSKYS_RULES_DIR, else ./rules. A path that does not exist or yields no rule is logged at WARN (the amoskys_geometric_rules_loaded gauge counts the rules loaded); when none can be read the processor fails to start.").
				Default([]any{}).Example([]any{"${AMOSKYS_RULES_DIR:./rules}"}),
			service.NewStringListField(fieldSigmaDirs).
				Description("Extra Sigma rule trees, e.g. the SigmaHQ rules/linux directory. Rules of categories this layer does not see load but stay inactive.").
				Default([]any{}).Example([]any{"../shared/data/sigma/rules/linux"}),
			service.NewObjectListField(fieldAllow,
				service.NewStringField("rule").Description("Rule id the entry applies to, or * for every rule.").Default("*"),
				service.NewStringListField("images").Description("Images (wildcards * and ?, case-insensitive) whose matches are dropped.").Default([]any{}),
				service.NewStringListField("parent_images").Description("Parent images (wildcards * and ?, case-insensitive) whose children's matches are dropped.").Default([]any{}),
				service.NewStringListField("users").Description("Users (names as in the User field) whose matches are dropped.").Default([]any{}),
				service.NewStringListField("hosts").Description("Hosts whose matches are dropped.").Default([]any{}),
			).Description("Allow-lists: matches they cover are dropped and counted in amoskys_geometric_suppressed_total. The default drops matches on Go's temporary build directory (go test, go run); set [] to drop nothing.").
				Default(defaultAllowAny()).Example([]any{map[string]any{"rule": "amoskys-new-listener-non-service", "images": []any{"/usr/local/bin/devserver"}}}),
			service.NewBoolField(fieldWatch).Description("Reload the rules when a file under the rule directories changes.").Default(true),
			service.NewDurationField(fieldDebounce).Description("Wait this long after the last file change before reloading.").Default("300ms").Advanced(),
		).
		Example("Built-in and SigmaHQ rules", "The detect pipeline's geometric stage.", `
pipeline:
  processors:
    - geometric:
        rules_dirs: [ "${AMOSKYS_RULES_DIR:./rules}" ]
        sigma_dirs: [ "../shared/data/sigma/rules/linux" ]
        allow:
          - rule: "*"
            images: [ "/usr/lib/apt/methods/*" ]
`)
}

func init() {
	service.MustRegisterBatchProcessor("geometric", spec(), newProcessor)
}

type processor struct {
	e      *Engine
	cancel context.CancelFunc
	log    *service.Logger

	judged, matched, suppressed, failed, reloads, ruleErrors *service.MetricCounter
	rules, rulesLoaded                                       *service.MetricGauge
}

func newProcessor(conf *service.ParsedConfig, res *service.Resources) (service.BatchProcessor, error) {
	var cfg Config
	var err error
	if cfg.RuleDirs, err = conf.FieldStringList(fieldRulesDirs); err != nil {
		return nil, err
	}
	if len(cfg.RuleDirs) == 0 {
		cfg.RuleDirs = []string{DefaultRulesDir()}
	}
	if cfg.SigmaDirs, err = conf.FieldStringList(fieldSigmaDirs); err != nil {
		return nil, err
	}
	allows, err := conf.FieldObjectList(fieldAllow)
	if err != nil {
		return nil, err
	}
	for _, a := range allows {
		var x Allow
		if a.Contains("rule") {
			if x.Rule, err = a.FieldString("rule"); err != nil {
				return nil, err
			}
		}
		for name, dst := range map[string]*[]string{"images": &x.Images, "parent_images": &x.ParentImages, "users": &x.Users, "hosts": &x.Hosts} {
			if !a.Contains(name) {
				continue
			}
			if *dst, err = a.FieldStringList(name); err != nil {
				return nil, err
			}
		}
		cfg.Allow = append(cfg.Allow, x)
	}
	watch, err := conf.FieldBool(fieldWatch)
	if err != nil {
		return nil, err
	}
	debounce, err := conf.FieldDuration(fieldDebounce)
	if err != nil {
		return nil, err
	}
	e, err := New(cfg)
	if err != nil {
		return nil, err
	}
	m := res.Metrics()
	p := &processor{
		e: e, log: res.Logger(),
		judged:     m.NewCounter("amoskys_geometric_events_total"),
		matched:    m.NewCounter("amoskys_geometric_matches_total"),
		suppressed: m.NewCounter("amoskys_geometric_suppressed_total"),
		failed:     m.NewCounter("amoskys_geometric_failed_total"),
		reloads:    m.NewCounter("amoskys_geometric_reloads_total"),
		ruleErrors: m.NewCounter("amoskys_geometric_rule_errors_total"),
		rules:      m.NewGauge("amoskys_geometric_rules"),
		// Every rule loaded, active or not; 0 means the configured directories hold no rules.
		rulesLoaded: m.NewGauge("amoskys_geometric_rules_loaded"),
	}
	p.report(e.Report())
	if watch {
		ctx, cancel := context.WithCancel(context.Background())
		p.cancel = cancel
		if err := e.Watch(ctx, debounce, func(rep *sigma.LoadReport, err error) {
			if err != nil {
				p.log.Errorf("geometric: reloading rules: %v (the previous rules stay in force)", err)
				return
			}
			p.reloads.Incr(1)
			p.report(rep)
		}); err != nil {
			cancel()
			return nil, err
		}
	}
	return p, nil
}

func (p *processor) report(rep *sigma.LoadReport) {
	for _, e := range rep.Errors {
		p.log.Warnf("geometric: rule not loaded: %v", e)
	}
	for _, w := range PathWarnings(rep) {
		p.log.Warnf("%s", w)
	}
	p.ruleErrors.Incr(int64(len(rep.Errors)))
	p.rules.Set(int64(p.e.Ruleset().ActiveCount()))
	p.rulesLoaded.Set(int64(len(rep.Rules)))
	p.log.Infof("geometric: %d rules loaded from %d files (%d active), %d not loaded", len(rep.Rules), rep.Files, p.e.Ruleset().ActiveCount(), len(rep.Errors))
}

func (p *processor) ProcessBatch(ctx context.Context, batch service.MessageBatch) ([]service.MessageBatch, error) {
	var judged, matched, suppressed, failed int64
	for _, msg := range batch {
		if envelope.Type(msg) != envelope.TypeTelemetry {
			continue
		}
		ev, err := envelope.EventOf(msg)
		if err != nil {
			failed++
			msg.SetError(err)
			msg.MetaSetMut(envelope.MetaDLQ, "geometric: "+err.Error())
			continue
		}
		judged++
		r, v, ok := p.e.Judge(ev)
		suppressed += int64(v.Suppressed)
		if ok {
			matched += int64(len(v.Matches))
			envelope.AddLayer(msg, r)
		}
	}
	// Counters once per batch: a labelled counter's lookup per message costs more than most
	// events' judgement (an event of a kind no rule reads is dismissed in nanoseconds).
	for _, c := range []struct {
		m *service.MetricCounter
		n int64
	}{{p.judged, judged}, {p.matched, matched}, {p.suppressed, suppressed}, {p.failed, failed}} {
		if c.n > 0 {
			c.m.Incr(c.n)
		}
	}
	return []service.MessageBatch{batch}, nil
}

func (p *processor) Close(context.Context) error {
	if p.cancel != nil {
		p.cancel()
	}
	return nil
}

func defaultAllowAny() []any {
	var out []any
	for _, a := range DefaultAllow {
		out = append(out, map[string]any{"rule": a.Rule, "images": strs(a.Images), "parent_images": strs(a.ParentImages),
			"users": strs(a.Users), "hosts": strs(a.Hosts)})
	}
	return out
}

func strs(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// PathWarnings says which configured rule paths do not exist (or cannot be read) or yield no
// rule: a typo or a broken link there silently disarms the layer otherwise.
func PathWarnings(rep *sigma.LoadReport) []string {
	var out []string
	for _, pr := range rep.Paths {
		switch {
		case pr.Err != nil:
			err := pr.Err
			if u := errors.Unwrap(err); u != nil {
				err = u // the *fs.PathError, without the loader's "rules path:" prefix
			}
			out = append(out, fmt.Sprintf("geometric: rules path %s not loaded: %v", pr.Path, err))
		case pr.Rules == 0:
			out = append(out, fmt.Sprintf("geometric: rules path %s yielded 0 rules (%d .yml/.yaml files read)", pr.Path, pr.Files))
		}
	}
	if len(rep.Rules) == 0 {
		out = append(out, "geometric: 0 rules loaded: the geometric layer will match nothing")
	}
	return out
}
