package metrics

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redpanda-data/benthos/v4/public/service"
)

// ExporterName is the Benthos metrics exporter that maps Benthos' metrics onto Registry.
const ExporterName = "amoskys_prometheus"

// Benthos metrics land on Registry as benthos_<name>_total (counters), benthos_<name>_seconds
// (timers, as histograms) and benthos_<name> (gauges), with a `stream` label naming the pipeline.
const benthosPrefix = "benthos_"

// StreamLabel is the label every Benthos metric carries: the pipeline it came from.
const StreamLabel = "stream"

// ExporterYAML returns the metrics config that sends a stream's metrics to Registry.
func ExporterYAML(stream string) string {
	return ExporterName + ":\n  stream: " + quoteYAML(stream) + "\n"
}

func quoteYAML(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func exporterSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Stable().
		Summary("Exposes Benthos metrics on the amoskys /metrics endpoint (the process-wide Prometheus registry).").
		Description("Counters become `benthos_<name>_total`, timers histograms `benthos_<name>_seconds`, gauges `benthos_<name>`; every series carries a `stream` label. `amoskys run` sets this exporter on every pipeline it starts.").
		Field(service.NewStringField("stream").
			Description("Value of the `stream` label: the pipeline name.").
			Default("").
			Example("collect")).
		Example("Pipeline started by amoskys run", "", ExporterName+":\n  stream: detect\n")
}

func init() {
	service.MustRegisterMetricsExporter(ExporterName, exporterSpec(),
		func(conf *service.ParsedConfig, log *service.Logger) (service.MetricsExporter, error) {
			stream, err := conf.FieldString("stream")
			if err != nil {
				return nil, err
			}
			return NewExporter(Registry, stream), nil
		})
}

// Exporter maps Benthos metrics onto a Prometheus registry. Several streams share one registry:
// vectors are shared by name, and the stream label keeps their series apart.
type Exporter struct {
	reg    *registryVecs
	stream string
}

type registryVecs struct {
	reg  prometheus.Registerer
	mu   sync.Mutex
	vecs map[string]vecEntry
}

type vecEntry struct {
	labels []string
	vec    prometheus.Collector
}

var (
	sharedMu   sync.Mutex
	sharedVecs = map[prometheus.Registerer]*registryVecs{}
)

// NewExporter returns an exporter writing to reg with the stream label set to stream.
func NewExporter(reg prometheus.Registerer, stream string) *Exporter {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	rv, ok := sharedVecs[reg]
	if !ok {
		rv = &registryVecs{reg: reg, vecs: map[string]vecEntry{}}
		sharedVecs[reg] = rv
	}
	return &Exporter{reg: rv, stream: stream}
}

var invalidNameChars = regexp.MustCompile(`[^a-zA-Z0-9_]`)

func sanitise(name string) string {
	name = invalidNameChars.ReplaceAllString(name, "_")
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		name = "_" + name
	}
	return name
}

// vec returns the collector for name and labels, creating it once. A name reused with other
// labels (custom metrics can do that) yields nil: that metric is dropped, never a panic.
func (r *registryVecs) vec(name string, labels []string, mk func(labels []string) prometheus.Collector) prometheus.Collector {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.vecs[name]; ok {
		if slices.Equal(e.labels, labels) {
			return e.vec
		}
		return nil
	}
	c := mk(labels)
	if err := r.reg.Register(c); err != nil {
		r.vecs[name] = vecEntry{labels: labels}
		return nil
	}
	r.vecs[name] = vecEntry{labels: labels, vec: c}
	return c
}

func (e *Exporter) labels(keys []string) []string {
	out := make([]string, 0, len(keys)+1)
	for _, k := range keys {
		out = append(out, sanitise(k))
	}
	return append(out, StreamLabel)
}

func (e *Exporter) values(vals []string) []string {
	return append(append(make([]string, 0, len(vals)+1), vals...), e.stream)
}

// NewCounterCtor implements service.MetricsExporter.
func (e *Exporter) NewCounterCtor(name string, labelKeys ...string) service.MetricsExporterCounterCtor {
	full := benthosPrefix + sanitise(strings.TrimSuffix(name, "_total")) + "_total"
	c, _ := e.reg.vec(full, e.labels(labelKeys), func(l []string) prometheus.Collector {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: full, Help: "Benthos counter " + name + "."}, l)
	}).(*prometheus.CounterVec)
	return func(labelValues ...string) service.MetricsExporterCounter {
		if c == nil || len(labelValues) != len(labelKeys) {
			return noop{}
		}
		return counter{c.WithLabelValues(e.values(labelValues)...)}
	}
}

// NewTimerCtor implements service.MetricsExporter.
func (e *Exporter) NewTimerCtor(name string, labelKeys ...string) service.MetricsExporterTimerCtor {
	full := benthosPrefix + sanitise(strings.TrimSuffix(name, "_ns")) + "_seconds"
	h, _ := e.reg.vec(full, e.labels(labelKeys), func(l []string) prometheus.Collector {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    full,
			Help:    "Benthos timer " + name + ", in seconds.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 14), // 1µs .. ~67s
		}, l)
	}).(*prometheus.HistogramVec)
	return func(labelValues ...string) service.MetricsExporterTimer {
		if h == nil || len(labelValues) != len(labelKeys) {
			return noop{}
		}
		return timer{h.WithLabelValues(e.values(labelValues)...)}
	}
}

// NewGaugeCtor implements service.MetricsExporter.
func (e *Exporter) NewGaugeCtor(name string, labelKeys ...string) service.MetricsExporterGaugeCtor {
	full := benthosPrefix + sanitise(name)
	g, _ := e.reg.vec(full, e.labels(labelKeys), func(l []string) prometheus.Collector {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: full, Help: "Benthos gauge " + name + "."}, l)
	}).(*prometheus.GaugeVec)
	return func(labelValues ...string) service.MetricsExporterGauge {
		if g == nil || len(labelValues) != len(labelKeys) {
			return noop{}
		}
		return gauge{g.WithLabelValues(e.values(labelValues)...)}
	}
}

// Close implements service.MetricsExporter. Series stay registered: other streams share them
// and a restarted stream continues its counters.
func (e *Exporter) Close(context.Context) error { return nil }

type counter struct{ c prometheus.Counter }

func (c counter) Incr(n int64) {
	if n > 0 {
		c.c.Add(float64(n))
	}
}

type timer struct{ o prometheus.Observer }

func (t timer) Timing(ns int64) { t.o.Observe(float64(ns) / 1e9) }

type gauge struct{ g prometheus.Gauge }

func (g gauge) Set(v int64) { g.g.Set(float64(v)) }

type noop struct{}

func (noop) Incr(int64)   {}
func (noop) Timing(int64) {}
func (noop) Set(int64)    {}
