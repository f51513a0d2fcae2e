package iforest

import (
	"context"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/internal/iforest"
)

const (
	fieldModelPath   = "model_path"
	fieldWatch       = "watch"
	fieldDebounce    = "reload_debounce"
	fieldTopFeatures = "top_features"
	fieldMinShare    = "min_share"
	fieldRawScore    = "raw_score"
)

func spec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Categories("AMOSKYS").
		Summary("The Isolation Forest layer: scores feature vectors with a model trained by `amoskys train`, and explains each score per feature.").
		Description(`Judges feature vectors (amoskys_type=features) from the window stage whose key kind is the
model's. The model file (internal/iforest format, versioned and checksummed) names its features; they are
looked up by name in each vector. Attaches a schemas.LayerResult (layer iforest): the score 0..1 (by
default calibrated: 0 at or below the median training score, 0.5 at the model's threshold, 1 at isolation
score 1), and a reason for each of the top features by their share in isolating the vector, with the
value beside the training median, so the explanation is stored beside the score.

Without a model, for vectors of another key kind, or when a vector lacks the model's features, the layer
abstains: the result has no score and says why (never a 0 that reads as normal). The model file is
watched: a new good model replaces the old one atomically; a bad one (corrupt, truncated, checksum
mismatch, another format version, features the window stage does not produce) is refused with a logged
error and counted in amoskys_iforest_model_errors_total, and the model in force stays. Telemetry events
and alerts pass untouched.`).
		Fields(
			service.NewStringField(fieldModelPath).
				Description("Model file. Empty: $AMOSKYS_MODELS_DIR/iforest.json, else ./models/iforest.json.").
				Default("").Example("${AMOSKYS_MODELS_DIR:./models}/iforest.json"),
			service.NewBoolField(fieldWatch).
				Description("Reload the model when its file changes.").Default(true),
			service.NewDurationField(fieldDebounce).
				Description("Wait this long after the last change to the file before reloading.").Default("200ms").Advanced(),
			service.NewIntField(fieldTopFeatures).
				Description("Reasons per result: the features with the largest shares of the isolation.").Default(3).Example(5),
			service.NewFloatField(fieldMinShare).
				Description("Least share of the isolation (0..1) a feature needs to become a reason.").Default(0.05).Example(0.1),
			service.NewBoolField(fieldRawScore).
				Description("Report the isolation score s(x) itself (inliers ~0.4) instead of the calibrated score.").Default(false).Advanced(),
		).
		Example("Detect chain", "iforest after temporal, scoring host windows.", `
pipeline:
  processors:
    - window: {}
    - temporal: {}
    - iforest:
        model_path: "${AMOSKYS_MODELS_DIR:./models}/iforest.json"
        top_features: 3
`)
}

func init() {
	service.MustRegisterBatchProcessor("iforest", spec(), newProcessor)
}

type processor struct {
	l      *Layer
	cancel context.CancelFunc
	log    *service.Logger

	judged, scored, abstained, failed, reloads, modelErrors *service.MetricCounter
}

func newProcessor(conf *service.ParsedConfig, res *service.Resources) (service.BatchProcessor, error) {
	var cfg Config
	var err error
	if cfg.ModelPath, err = conf.FieldString(fieldModelPath); err != nil {
		return nil, err
	}
	if cfg.TopFeatures, err = conf.FieldInt(fieldTopFeatures); err != nil {
		return nil, err
	}
	if cfg.MinShare, err = conf.FieldFloat(fieldMinShare); err != nil {
		return nil, err
	}
	if cfg.Raw, err = conf.FieldBool(fieldRawScore); err != nil {
		return nil, err
	}
	watch, err := conf.FieldBool(fieldWatch)
	if err != nil {
		return nil, err
	}
	debounce, err := conf.FieldDuration(fieldDebounce)
	if err != nil {
		return nil, err
	}
	return newFromConfig(cfg, watch, debounce, res)
}

func newFromConfig(cfg Config, watch bool, debounce time.Duration, res *service.Resources) (*processor, error) {
	m := res.Metrics()
	p := &processor{
		log:         res.Logger(),
		judged:      m.NewCounter("amoskys_iforest_vectors_total"),
		scored:      m.NewCounter("amoskys_iforest_scored_total"),
		abstained:   m.NewCounter("amoskys_iforest_abstained_total"),
		failed:      m.NewCounter("amoskys_iforest_failed_total"),
		reloads:     m.NewCounter("amoskys_iforest_reloads_total"),
		modelErrors: m.NewCounter("amoskys_iforest_model_errors_total"),
	}
	p.l = NewLayer(cfg)
	if mod := p.l.Model(); mod != nil {
		p.logModel("loaded", mod)
	} else {
		p.modelErrors.Incr(1)
		p.log.Errorf("iforest: no model, the layer abstains until one loads: %v", p.l.LoadError())
	}
	if watch {
		ctx, cancel := context.WithCancel(context.Background())
		p.cancel = cancel
		if err := p.l.Watch(ctx, debounce, func(mod *iforest.Model, err error) {
			if err != nil {
				p.modelErrors.Incr(1)
				if p.l.Model() != nil {
					p.log.Errorf("iforest: model refused, the previous model stays in force: %v", err)
				} else {
					p.log.Errorf("iforest: model refused, the layer abstains: %v", err)
				}
				return
			}
			p.reloads.Incr(1)
			p.logModel("reloaded", mod)
		}); err != nil {
			cancel()
			p.cancel = nil
			p.log.Errorf("iforest: not watching the model file, changes need a restart: %v", err)
		}
	}
	return p, nil
}

func (p *processor) logModel(verb string, m *iforest.Model) {
	p.log.Infof("iforest: %s model %q (%s, %d features, %d trees, threshold %.3f, trained on %d rows %s..%s)",
		verb, m.Name, m.KeyKind, len(m.Features), len(m.Trees), m.Threshold, m.Training.Rows,
		m.Training.From.Format("2006-01-02T15:04Z"), m.Training.To.Format("2006-01-02T15:04Z"))
}

func (p *processor) ProcessBatch(ctx context.Context, batch service.MessageBatch) ([]service.MessageBatch, error) {
	// Counted here and added once per batch: each Incr of a Benthos counter resolves its labels
	// (two allocations).
	var judged, scored, abstained, failed int64
	for _, msg := range batch {
		if !envelope.Is(msg, envelope.TypeFeatures) { // events are skipped by their payload
			continue
		}
		fv, err := envelope.FeaturesOf(msg) // the type is read above
		if err != nil {
			failed++
			msg.SetError(err)
			msg.MetaSetMut(envelope.MetaDLQ, "iforest: "+err.Error())
			continue
		}
		judged++
		r := p.l.Judge(fv)
		if r.Score == nil {
			abstained++
		} else {
			scored++
		}
		envelope.AddLayer(msg, r)
	}
	for _, c := range [...]struct {
		m *service.MetricCounter
		n int64
	}{{p.judged, judged}, {p.scored, scored}, {p.abstained, abstained}, {p.failed, failed}} {
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
