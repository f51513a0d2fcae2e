package replay

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Names registered in a replay's Benthos environment for benchmarks.
const (
	// PluginNoop is a processor built on the public plugin API (service.RegisterBatchProcessor,
	// as every AMOSKYS stage is) that passes its batch on untouched: N of them measure what the
	// framework itself charges N plugin stages (message wrapping, tracing spans, metrics).
	// Benthos' own `noop` is unwrapped to an internal processor and skips all of that.
	PluginNoop = "plugin_noop"
	// stageTimerName is the metrics exporter that sums processor_latency_ns per stage label.
	stageTimerName = "amoskys_stage_timer"
)

type pluginNoop struct{}

func (pluginNoop) ProcessBatch(_ context.Context, b service.MessageBatch) ([]service.MessageBatch, error) {
	return []service.MessageBatch{b}, nil
}

func (pluginNoop) Close(context.Context) error { return nil }

// registerBench adds PluginNoop and, when st is set, the stage timer to env.
func registerBench(env *service.Environment, st *stageTimer) error {
	err := env.RegisterBatchProcessor(PluginNoop, service.NewConfigSpec().
		Summary("Passes its batch on untouched, through the public plugin API (a benchmark baseline).").
		Field(service.NewObjectField("").Default(map[string]any{})),
		func(*service.ParsedConfig, *service.Resources) (service.BatchProcessor, error) {
			return pluginNoop{}, nil
		})
	if err != nil || st == nil {
		return err
	}
	return env.RegisterMetricsExporter(stageTimerName, service.NewConfigSpec(),
		func(*service.ParsedConfig, *service.Logger) (service.MetricsExporter, error) { return st, nil })
}

// StageTime is the time one pipeline stage spent processing, framework wrapper included
// (Benthos' processor_latency_ns: from before the stage's tracing spans to after them).
type StageTime struct {
	Label string
	Nanos int64
}

// stageTimer is a metrics exporter keeping only processor_latency_ns, summed per label.
type stageTimer struct {
	mu    sync.Mutex
	by    map[string]*atomic.Int64
	order []string
}

func newStageTimer() *stageTimer { return &stageTimer{by: map[string]*atomic.Int64{}} }

func (s *stageTimer) slot(label string) *atomic.Int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.by[label]
	if c == nil {
		c = new(atomic.Int64)
		s.by[label] = c
		s.order = append(s.order, label)
	}
	return c
}

// times returns the stages in the order they first reported.
func (s *stageTimer) times() []StageTime {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]StageTime, 0, len(s.order))
	for _, l := range s.order {
		out = append(out, StageTime{Label: l, Nanos: s.by[l].Load()})
	}
	return out
}

type nopMetric struct{}

func (nopMetric) Incr(int64)          {}
func (nopMetric) IncrFloat64(float64) {}
func (nopMetric) Set(int64)           {}
func (nopMetric) SetFloat64(float64)  {}
func (nopMetric) Timing(int64)        {}

type timerSlot struct{ c *atomic.Int64 }

func (t timerSlot) Timing(d int64) { t.c.Add(d) }

func (s *stageTimer) NewCounterCtor(string, ...string) service.MetricsExporterCounterCtor {
	return func(...string) service.MetricsExporterCounter { return nopMetric{} }
}

func (s *stageTimer) NewGaugeCtor(string, ...string) service.MetricsExporterGaugeCtor {
	return func(...string) service.MetricsExporterGauge { return nopMetric{} }
}

func (s *stageTimer) NewTimerCtor(name string, keys ...string) service.MetricsExporterTimerCtor {
	li := slices.Index(keys, "label")
	if name != "processor_latency_ns" || li < 0 {
		return func(...string) service.MetricsExporterTimer { return nopMetric{} }
	}
	return func(vals ...string) service.MetricsExporterTimer {
		if li >= len(vals) {
			return nopMetric{}
		}
		return timerSlot{s.slot(vals[li])}
	}
}

func (s *stageTimer) Close(context.Context) error { return nil }
