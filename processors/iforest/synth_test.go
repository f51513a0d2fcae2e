package iforest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	core "github.com/amoskys/amoskys/internal/iforest"
	"github.com/amoskys/amoskys/processors/window"
	"github.com/amoskys/amoskys/schemas"
)

var t0 = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// hostEvents makes minutes of host telemetry for one host: host metrics every 10 s and a few
// process execs a minute. In the minutes listed in spike, a miner runs: cpu.user near 97% and
// the load average up.
func hostEvents(seed uint64, start time.Time, minutes int, spike map[int]bool) []*schemas.TelemetryEvent {
	r := rand.New(rand.NewPCG(seed, 3))
	var out []*schemas.TelemetryEvent
	n := 0
	add := func(at time.Time, name string, v float64) {
		n++
		out = append(out, &schemas.TelemetryEvent{SchemaVersion: 1, ID: fmt.Sprintf("ev-%d-%d", seed, n), Kind: schemas.KindHostMetric,
			Time: at, Host: "web-1", Source: "host", Metric: &schemas.Metric{Name: name, Value: v, Unit: "percent"}})
	}
	for m := range minutes {
		for s := 0; s < 60; s += 10 {
			at := start.Add(time.Duration(m)*time.Minute + time.Duration(s)*time.Second)
			cpu, load := 12+4*r.NormFloat64(), 0.8+0.2*r.NormFloat64()
			if spike[m] {
				cpu, load = 97+r.Float64(), 4+r.Float64()
			}
			add(at, "cpu.user", math.Max(0, cpu))
			add(at, "cpu.system", math.Max(0, 4+r.NormFloat64()))
			add(at, "mem.used_pct", 40+2*r.NormFloat64())
			add(at, "load1", math.Max(0, load))
		}
		for e := range 2 + r.IntN(3) {
			n++
			out = append(out, &schemas.TelemetryEvent{SchemaVersion: 1, ID: fmt.Sprintf("ex-%d-%d", seed, n), Kind: schemas.KindProcessExec,
				Time: start.Add(time.Duration(m)*time.Minute + time.Duration(5+e*7)*time.Second), Host: "web-1", Source: "process",
				Process: &schemas.Process{PID: int32(1000 + n), PPID: 1, Name: "cron", Exe: "/usr/sbin/cron", StartTime: start}})
		}
	}
	return out
}

func windowConfig() window.Config {
	c := window.DefaultConfig()
	c.Windows = []window.Spec{{Size: time.Minute, Slide: time.Minute}}
	c.KeyKinds = []string{window.KindHost}
	return c
}

// hostVectors runs events through the real window stage.
func hostVectors(t testing.TB, evs []*schemas.TelemetryEvent) []*schemas.FeatureVector {
	t.Helper()
	w, err := window.New(windowConfig())
	require.NoError(t, err)
	var out []*schemas.FeatureVector
	for _, ev := range evs {
		out = append(out, w.Add(ev)...)
	}
	out = append(out, w.Flush()...)
	require.NotEmpty(t, out)
	return out
}

var (
	quietOnce sync.Once
	quiet     []*schemas.FeatureVector
)

// trainHostModel fits a model on ten quiet hours of host windows produced by the window stage.
func trainHostModel(t testing.TB, name string) *core.Model {
	t.Helper()
	quietOnce.Do(func() { quiet = hostVectors(t, hostEvents(1, t0, 600, nil)) })
	vs := quiet
	names := vs[0].Names
	X := core.Matrix{Cols: len(names)}
	for _, v := range vs {
		require.Equal(t, names, v.Names)
		X.Data = append(X.Data, v.Values...)
		X.Rows++
	}
	p := core.DefaultParams()
	p.Contamination = 0.01
	m, err := core.Train(names, X, core.TrainOptions{Params: p, Name: name, KeyKind: window.KindHost, FeatureSet: window.KindHost,
		From: t0, To: t0.Add(600 * time.Minute), Created: t0.Add(601 * time.Minute), Source: "test"})
	require.NoError(t, err)
	return m
}
