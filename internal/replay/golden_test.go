package replay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/schemas"
)

// goldenChainSHA256 is the sha256 of every message pipelines/detect.yaml emits for goldenEvents
// (in order: type, payload JSON, layer results JSON, error), written by the code before the
// speed-ups of the detect stages (window, geometric, temporal, fuse, alert, envelope): a change
// that alters any stage's output, even one a later stage hides, changes it.
const goldenChainSHA256 = "7e89b46ec220b981d2cbdaff9eb15dc2fe2f6cd75d46ee6d173b55239119c7aa"

// goldenEvents is Synthetic with anomalies a few rules and layers react to: now and then an exec
// from /tmp by root under a shell, a listener, a burst of connections and metric spikes.
func goldenEvents(n int) []*schemas.TelemetryEvent { return withAnomalies(Synthetic(n, 2, t0)) }

// withAnomalies plants goldenEvents' anomalies in evs.
func withAnomalies(evs []*schemas.TelemetryEvent) []*schemas.TelemetryEvent {
	for i, ev := range evs {
		switch {
		case ev.Kind == schemas.KindProcessExec && i%4001 == 0:
			ev.Process.Exe, ev.Process.Name, ev.Process.Cmdline = "/tmp/.x/payload", "payload", "/tmp/.x/payload -d"
			ev.Process.EUID = 0
			ev.Process.Ancestry = []schemas.Ancestor{{PID: 900, Name: "bash", Exe: "/usr/bin/bash", EUID: 1000}}
		case ev.Kind == schemas.KindConnection && i%3001 < 30 && i > 30000:
			ev.Kind = schemas.KindListener
			ev.Conn.Action, ev.Conn.State, ev.Conn.LocalPort = "opened", "LISTEN", uint16(4444+i%3)
			ev.Conn.Exe = "/tmp/.x/payload"
		case ev.Kind == schemas.KindHostMetric && i%7919 < 40 && i > 40000:
			ev.Metric.Value *= 50
		}
	}
	return evs
}

// hashOutput is a stream output that hashes every message it gets.
type hashOutput struct {
	mu   sync.Mutex
	h    hash.Hash
	n    map[string]int
	dump io.Writer
}

func (o *hashOutput) Connect(context.Context) error { return nil }
func (o *hashOutput) Close(context.Context) error   { return nil }
func (o *hashOutput) WriteBatch(_ context.Context, b service.MessageBatch) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range b {
		typ := envelope.Type(m)
		o.n[typ]++
		v, err := m.AsStructured()
		if err != nil {
			return err
		}
		js, err := json.Marshal(v)
		if err != nil {
			return err
		}
		ls, err := json.Marshal(envelope.Layers(m))
		if err != nil {
			return err
		}
		e := ""
		if err := m.GetError(); err != nil {
			e = err.Error()
		}
		fmt.Fprintf(o.h, "%s\x00%s\x00%s\x00%s\n", typ, js, ls, e)
		if o.dump != nil {
			fmt.Fprintf(o.dump, "%s %s %s %s\n", typ, js, ls, e)
		}
	}
	return nil
}

// chainDigest replays evs through pipeline in batches of batch and hashes the output.
func chainDigest(t *testing.T, pipeline string, evs []*schemas.TelemetryEvent, batch int) (string, map[string]int) {
	t.Helper()
	t.Setenv("AMOSKYS_RULES_DIR", filepath.Join("..", "..", "rules"))
	// No model (iforest abstains), at a fixed path: its abstention names the path.
	t.Setenv("AMOSKYS_MODELS_DIR", "/nonexistent/amoskys-golden-models")
	conf, err := pipelineYAMLWith(pipeline, map[string]any{sourceName: map[string]any{}}, map[string]any{sinkName: map[string]any{}})
	require.NoError(t, err)
	env := service.NewEnvironment()
	var events int64
	var readErr error
	require.NoError(t, env.RegisterBatchInput(sourceName, service.NewConfigSpec(), func(*service.ParsedConfig, *service.Resources) (service.BatchInput, error) {
		return &sourceInput{src: &sliceSource{evs: evs}, n: batch, count: &events, err: &readErr}, nil
	}))
	out := &hashOutput{h: sha256.New(), n: map[string]int{}}
	if p := os.Getenv("AMOSKYS_GOLDEN_DUMP"); p != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", p, batch))
		require.NoError(t, err)
		defer f.Close()
		out.dump = f
	}
	require.NoError(t, env.RegisterBatchOutput(sinkName, service.NewConfigSpec(), func(*service.ParsedConfig, *service.Resources) (service.BatchOutput, service.BatchPolicy, int, error) {
		return out, service.BatchPolicy{}, 1, nil
	}))
	sb := env.NewStreamBuilder()
	require.NoError(t, sb.SetYAML(conf))
	require.NoError(t, sb.SetLoggerYAML("level: none"))
	require.NoError(t, sb.SetMetricsYAML("none: {}"))
	s, err := sb.Build()
	require.NoError(t, err)
	require.NoError(t, s.Run(t.Context()))
	require.NoError(t, readErr)
	require.EqualValues(t, len(evs), events)
	return hex.EncodeToString(out.h.Sum(nil)), out.n
}

// The whole detect chain's output (every feature vector, layer result, alert and pass-through
// event, in order) is what it was before the stages were made faster, at two batch sizes.
func TestDetectChainGolden(t *testing.T) {
	n := 80000
	evs := goldenEvents(n)
	start := time.Now()
	d, counts := chainDigest(t, filepath.Join("..", "..", "pipelines", "detect.yaml"), evs, 5000)
	t.Logf("%d events: %v, %s (%v)", n, counts, d, time.Since(start))
	require.Greater(t, counts[envelope.TypeAlert], 0, "the input raises alerts")
	require.Greater(t, counts[envelope.TypeFeatures], 0)
	d2, _ := chainDigest(t, filepath.Join("..", "..", "pipelines", "detect.yaml"), evs, 777)
	require.Equal(t, d, d2, "the output does not depend on batch boundaries")
	require.Equal(t, goldenChainSHA256, d)
}
