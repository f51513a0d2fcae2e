// Package metrics holds the one Prometheus registry of an amoskys process (served on /metrics)
// and the helpers every stage uses to register its counters there, named
// amoskys_<stage>_<thing>_total and amoskys_<stage>_<thing>_seconds.
package metrics

import (
	"errors"
	"fmt"
	"regexp"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry is the process-wide registry: Go runtime and process collectors, Benthos' metrics
// (through the amoskys_prometheus exporter) and every amoskys_* metric.
var Registry = prometheus.NewRegistry()

func init() {
	Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

var (
	mu   sync.Mutex
	vecs = map[string]prometheus.Collector{}
)

// register registers c under name once: a second call with the same name returns the first
// collector, so packages may ask for their counters from several constructors.
func register[T prometheus.Collector](name string, make func() T) T {
	mu.Lock()
	defer mu.Unlock()
	if c, ok := vecs[name]; ok {
		t, ok := c.(T)
		if !ok {
			panic(fmt.Sprintf("metrics: %s registered twice with different types", name)) // wiring bug
		}
		return t
	}
	c := make()
	if err := Registry.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if t, ok := are.ExistingCollector.(T); ok {
				vecs[name] = t
				return t
			}
		}
		panic(fmt.Sprintf("metrics: registering %s: %v", name, err)) // wiring bug
	}
	vecs[name] = c
	return c
}

func metricName(stage, thing, suffix string) string {
	if !nameRE.MatchString(stage) || !nameRE.MatchString(thing) {
		panic(fmt.Sprintf("metrics: stage %q and thing %q must be snake_case", stage, thing)) // wiring bug
	}
	return "amoskys_" + stage + "_" + thing + suffix
}

// Counter returns the counter vector amoskys_<stage>_<thing>_total with the given labels
// (use `status`, `destination`, `reason`, ...), registering it on first use.
func Counter(stage, thing, help string, labels ...string) *prometheus.CounterVec {
	name := metricName(stage, thing, "_total")
	return register(name, func() *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	})
}

// Histogram returns the histogram amoskys_<stage>_<thing>_seconds (latencies), registering it on
// first use. nil buckets means prometheus.DefBuckets.
func Histogram(stage, thing, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	name := metricName(stage, thing, "_seconds")
	return register(name, func() *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	})
}

// Gauge returns the gauge amoskys_<stage>_<thing> (no suffix), registering it on first use.
func Gauge(stage, thing, help string, labels ...string) *prometheus.GaugeVec {
	name := metricName(stage, thing, "")
	return register(name, func() *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	})
}
