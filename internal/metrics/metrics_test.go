package metrics

import (
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
)

func TestHelpersShareVectors(t *testing.T) {
	a := Counter("test", "events", "Events seen.", "status")
	b := Counter("test", "events", "Events seen.", "status")
	require.Same(t, a, b)
	a.WithLabelValues("ok").Add(3)
	require.InDelta(t, 3, testutil.ToFloat64(b.WithLabelValues("ok")), 0)
	h := Histogram("test", "latency", "Latency.", nil, "stage")
	h.WithLabelValues("x").Observe(0.5)
	g := Gauge("test", "open_windows", "Windows open.")
	g.WithLabelValues().Set(2)

	mfs, err := Registry.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"amoskys_test_events_total", "amoskys_test_latency_seconds", "amoskys_test_open_windows", "go_goroutines", "process_cpu_seconds_total"} {
		require.True(t, names[n], n)
	}
	require.Panics(t, func() { Counter("Bad-Stage", "x", "") })
}

// A real Benthos stream with the exporter: its counters appear on the registry per stream.
func TestBenthosExporter(t *testing.T) {
	reg := prometheus.NewRegistry()
	run := func(stream string, n int) {
		env := service.NewEnvironment()
		require.NoError(t, env.RegisterMetricsExporter("test_prom", service.NewConfigSpec(),
			func(*service.ParsedConfig, *service.Logger) (service.MetricsExporter, error) {
				return NewExporter(reg, stream), nil
			}))
		sb := env.NewStreamBuilder()
		require.NoError(t, sb.SetYAML(`
input:
  generate:
    mapping: 'root = {"n": counter()}'
    count: `+itoa(n)+`
    interval: ""
output:
  drop: {}
`))
		require.NoError(t, sb.SetMetricsYAML("test_prom: {}"))
		require.NoError(t, sb.SetLoggerYAML("level: none"))
		s, err := sb.Build()
		require.NoError(t, err)
		require.NoError(t, s.Run(t.Context()))
	}
	run("one", 5)
	run("two", 7)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "benthos_input_received_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == StreamLabel {
					got[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	require.Equal(t, map[string]float64{"one": 5, "two": 7}, got)
}

func TestExporterLabelConflictIsDropped(t *testing.T) {
	e := NewExporter(prometheus.NewRegistry(), "s")
	e.NewCounterCtor("custom", "a")("x").Incr(1)
	// Same name, other labels: dropped quietly, no panic.
	e.NewCounterCtor("custom", "b", "c")("x", "y").Incr(1)
	// Wrong number of label values: dropped quietly.
	e.NewCounterCtor("custom", "a")("x", "extra").Incr(1)
	e.NewTimerCtor("t_ns")().Timing(1000)
	e.NewGaugeCtor("g-1")().Set(3)
}

func TestExporterYAMLIsRegistered(t *testing.T) {
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetMetricsYAML(ExporterYAML("it's")))
}

func itoa(n int) string { return strconv.Itoa(n) }
