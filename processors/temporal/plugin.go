package temporal

import (
	"context"
	"sync"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/envelope"
)

const (
	fieldFeatures        = "features"
	fieldWarmup          = "warmup_points"
	fieldMaxSeries       = "max_series"
	fieldReasonThreshold = "reason_threshold"
	fieldHorizon         = "horizon_points"
	fieldSeasonal        = "seasonal"
	fieldPopulationFloor = "population_floor"
	fieldPopFeatures     = "population_features"
	fieldPopZ            = "population_z"
	fieldPopWindows      = "population_windows"
	fieldPopMin          = "population_min"
)

func spec() *service.ConfigSpec {
	d := DefaultLayerConfig()
	return service.NewConfigSpec().
		Categories("AMOSKYS").
		Summary("The temporal layer: streaming robust baselines per feature series, scoring each feature vector by how surprising it is.").
		Description(`Judges feature vectors (amoskys_type=features) from the window stage. Every feature of
every key is its own series, keyed by host, key, window and feature name; each series keeps a robust
baseline (winsorised EWMA level and absolute deviation), a time-of-day profile used once it predicts the
series better, and a decayed histogram of its own past surprises that calibrates the Gaussian tail of
each new point, so a score means the same rarity on every series. A key still warming up (a process
that just started) is judged for population_features against the other keys of its kind on its host
(log-scale median and MAD of their recent values, blended with earlier runs of the same program, then
into its own mean as its points accumulate)
and scored once it has been above them for population_windows consecutive windows, e.g. "cpu_percent
98.6 is 8.9 σ above the median 0.05 of 143 recent process vectors on this host". Work and memory are O(1) per point and
per series; the number of series is capped (least recently updated evicted, counted in
amoskys_temporal_evicted_total). Time is the vector's window end: the output depends on the input only.

Attaches a schemas.LayerResult (layer temporal) to every feature vector: the highest feature score, with a
reason per feature at or above reason_threshold, e.g. "cpu.user 94 is 6.2 robust σ above its 1h baseline
12 ± 3". While every watched series is still warming up the layer abstains, with the reason. Telemetry
events and alerts pass untouched. The same detector runs in `+"`amoskys bench nab`"+`.`).
		Fields(
			service.NewStringListField(fieldFeatures).
				Description("Feature names to watch (names of processors/window/features.go). Empty: every feature.").
				Default([]any{}).Example([]any{"cpu.user", "mem.used_pct", "proc.exec_count"}),
			service.NewIntField(fieldWarmup).
				Description("Points a series needs before it is scored; until then the layer abstains for it.").
				Default(d.Detector.Warmup).Example(10),
			service.NewIntField(fieldMaxSeries).
				Description("Cap on series kept (host+key+window+feature); the least recently updated is evicted.").
				Default(d.MaxSeries).Example(100000),
			service.NewFloatField(fieldReasonThreshold).
				Description("Feature score (0..1) from which a feature gets a reason in the layer result.").
				Default(d.ReasonThreshold).Example(0.6),
			service.NewIntField(fieldHorizon).
				Description("Memory of the baseline, in points of the series.").
				Default(d.Detector.Horizon).Example(500).Advanced(),
			service.NewFloatField(fieldPopulationFloor).
				Description("Floor each series' sigma at this fraction of the typical deviation of the same feature over all keys, so a process idle at exactly 0 is not alarmed by its first small blip. 0 turns it off.").
				Default(d.PopulationFloor).Example(0.25).Advanced(),
			service.NewStringListField(fieldPopFeatures).
				Description("Features for which a key still warming up (a new process) is judged against the other keys of its kind on the same host: the median and MAD, on a log scale, of their recent values (one per key and earlier window), blended into the key's own mean as its points accumulate. Empty turns the population prior off.").
				Default(anyList(d.PopulationFeatures)).Example([]any{"cpu_percent"}),
			service.NewFloatField(fieldPopZ).
				Description("Robust z (log scale) above the blended population baseline from which a warming key counts as above its population (one-sided: less than its peers is ordinary).").
				Default(d.PopulationZ).Example(8).Advanced(),
			service.NewIntField(fieldPopWindows).
				Description("Consecutive windows a warming key must be above its population before it is scored (persistence: a compiler busy for seconds is not a burn).").
				Default(d.PopulationWindows).Example(3).Advanced(),
			service.NewIntField(fieldPopMin).
				Description("Population values (vectors of earlier windows) needed before the prior judges anything.").
				Default(d.PopulationMin).Example(50).Advanced(),
			service.NewBoolField(fieldSeasonal).
				Description("Learn a time-of-day profile per series (used only while it predicts better than the flat baseline).").
				Default(d.Detector.Seasonal).Advanced(),
		).
		LintRule(`root = [
  if this.reason_threshold.or(0.5) < 0 || this.reason_threshold.or(0.5) > 1 { "reason_threshold must be within 0..1" },
  if this.warmup_points.or(30) < 1 { "warmup_points must be at least 1" },
  if this.max_series.or(1) < 1 { "max_series must be at least 1" },
  if this.population_z.or(5) < 0 { "population_z must be 0 or more" },
  if this.population_windows.or(2) < 0 { "population_windows must be 0 or more" },
].filter(e -> e != null)`).
		Example("Detect chain", "Temporal after window and geometric.", `
pipeline:
  processors:
    - window: {}
    - geometric: {}
    - temporal:
        warmup_points: 30
        max_series: 50000
        reason_threshold: 0.5
`)
}

func anyList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func init() {
	service.MustRegisterBatchProcessor("temporal", spec(), newProcessor)
}

type processor struct {
	mu    sync.Mutex
	layer *Layer

	judged, abstained, failed, evicted *service.MetricCounter
	series                             *service.MetricGauge
	lastEvicted                        uint64
}

func newProcessor(conf *service.ParsedConfig, res *service.Resources) (service.BatchProcessor, error) {
	cfg := DefaultLayerConfig()
	var err error
	if cfg.Features, err = conf.FieldStringList(fieldFeatures); err != nil {
		return nil, err
	}
	if cfg.Detector.Warmup, err = conf.FieldInt(fieldWarmup); err != nil {
		return nil, err
	}
	if cfg.MaxSeries, err = conf.FieldInt(fieldMaxSeries); err != nil {
		return nil, err
	}
	if cfg.ReasonThreshold, err = conf.FieldFloat(fieldReasonThreshold); err != nil {
		return nil, err
	}
	if cfg.Detector.Horizon, err = conf.FieldInt(fieldHorizon); err != nil {
		return nil, err
	}
	if cfg.Detector.Seasonal, err = conf.FieldBool(fieldSeasonal); err != nil {
		return nil, err
	}
	if cfg.PopulationFloor, err = conf.FieldFloat(fieldPopulationFloor); err != nil {
		return nil, err
	}
	if cfg.PopulationFeatures, err = conf.FieldStringList(fieldPopFeatures); err != nil {
		return nil, err
	}
	if cfg.PopulationZ, err = conf.FieldFloat(fieldPopZ); err != nil {
		return nil, err
	}
	if cfg.PopulationWindows, err = conf.FieldInt(fieldPopWindows); err != nil {
		return nil, err
	}
	if cfg.PopulationMin, err = conf.FieldInt(fieldPopMin); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := res.Metrics()
	return &processor{
		layer:     NewLayer(cfg),
		judged:    m.NewCounter("amoskys_temporal_vectors_total"),
		abstained: m.NewCounter("amoskys_temporal_abstained_total"),
		failed:    m.NewCounter("amoskys_temporal_failed_total"),
		evicted:   m.NewCounter("amoskys_temporal_evicted_total"),
		series:    m.NewGauge("amoskys_temporal_series"),
	}, nil
}

func (p *processor) ProcessBatch(_ context.Context, batch service.MessageBatch) ([]service.MessageBatch, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Counted here and added once per batch: each Incr of a Benthos counter resolves its labels
	// (two allocations).
	var judged, abstained, failed int64
	for _, msg := range batch {
		if !envelope.Is(msg, envelope.TypeFeatures) { // events are skipped by their payload
			continue
		}
		fv, err := envelope.FeaturesOf(msg) // the type is read above
		if err != nil {
			failed++
			msg.SetError(err)
			msg.MetaSetMut(envelope.MetaDLQ, "temporal: "+err.Error())
			continue
		}
		r := p.layer.Judge(fv)
		judged++
		if r.Score == nil {
			abstained++
		}
		envelope.AddLayer(msg, r)
	}
	if judged > 0 {
		p.judged.Incr(judged)
	}
	if abstained > 0 {
		p.abstained.Incr(abstained)
	}
	if failed > 0 {
		p.failed.Incr(failed)
	}
	if ev := p.layer.Evicted; ev > p.lastEvicted {
		p.evicted.Incr(int64(ev - p.lastEvicted))
		p.lastEvicted = ev
	}
	p.series.Set(int64(p.layer.Series()))
	return []service.MessageBatch{batch}, nil
}

func (p *processor) Close(context.Context) error { return nil }
