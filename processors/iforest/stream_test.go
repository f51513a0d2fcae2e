package iforest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/envelope"
	_ "github.com/amoskys/amoskys/processors/fuse"
	"github.com/amoskys/amoskys/processors/window"
	"github.com/amoskys/amoskys/schemas"
)

// syncBuffer is a log sink the stream writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type scored struct {
	fv *schemas.FeatureVector
	r  schemas.LayerResult
}

// runStream starts telemetry → window → iforest with a producer and a consumer that keeps every
// feature vector's iforest result.
func runStream(t *testing.T, modelPath string, after ...string) (push func([]*schemas.TelemetryEvent, bool), results func() []scored, logs *syncBuffer) {
	push, results, _, logs = runStreamAlerts(t, modelPath, after...)
	return push, results, logs
}

// runStreamAlerts is runStream with more processors after iforest, also returning the alerts.
func runStreamAlerts(t *testing.T, modelPath string, after ...string) (push func([]*schemas.TelemetryEvent, bool), results func() []scored, alerts func() []*schemas.AlertEvent, logs *syncBuffer) {
	t.Helper()
	b := service.NewStreamBuilder()
	logs = &syncBuffer{}
	b.SetLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	require.NoError(t, b.AddProcessorYAML(`
window:
  windows: [ { size: 1m, slide: 1m } ]
  key_kinds: [ host ]
`))
	require.NoError(t, b.AddProcessorYAML(fmt.Sprintf(`
iforest:
  model_path: %q
  reload_debounce: 20ms
  top_features: 5
`, modelPath)))
	for _, a := range after {
		require.NoError(t, b.AddProcessorYAML(a))
	}
	prod, err := b.AddBatchProducerFunc()
	require.NoError(t, err)
	var mu sync.Mutex
	var got []scored
	var gotAlerts []*schemas.AlertEvent
	require.NoError(t, b.AddBatchConsumerFunc(func(_ context.Context, batch service.MessageBatch) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range batch {
			if envelope.Type(m) == envelope.TypeAlert {
				a, err := envelope.Alert(m)
				if err != nil {
					return err
				}
				gotAlerts = append(gotAlerts, a)
				continue
			}
			if envelope.Type(m) != envelope.TypeFeatures {
				continue
			}
			fv, err := envelope.Features(m)
			if err != nil {
				return err
			}
			for _, l := range envelope.Layers(m) {
				if l.Layer == schemas.LayerIForest {
					got = append(got, scored{fv, l})
				}
			}
		}
		return nil
	}))
	s, err := b.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	push = func(evs []*schemas.TelemetryEvent, eof bool) {
		batch := make(service.MessageBatch, 0, len(evs)+1)
		for _, ev := range evs {
			batch = append(batch, envelope.NewEvent(ev))
		}
		if eof {
			m := service.NewMessage(nil)
			m.MetaSetMut(window.MetaEOF, true)
			m.MetaSetMut(envelope.MetaType, "control")
			batch = append(batch, m)
		}
		require.NoError(t, prod(t.Context(), batch))
	}
	results = func() []scored {
		mu.Lock()
		defer mu.Unlock()
		return append([]scored(nil), got...)
	}
	alerts = func() []*schemas.AlertEvent {
		mu.Lock()
		defer mu.Unlock()
		return append([]*schemas.AlertEvent(nil), gotAlerts...)
	}
	return push, results, alerts, logs
}

// The layer scores real feature vectors from the window stage in a running stream, and the
// explanation travels beside the score.
func TestStreamScoresWindowVectors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "iforest.json")
	require.NoError(t, trainHostModel(t, "quiet-day").Save(path))
	push, results, _ := runStream(t, path)
	day := t0.Add(48 * time.Hour)
	push(hostEvents(5, day, 20, map[int]bool{12: true}), true)
	rs := results()
	require.Len(t, rs, 20, "one host vector per minute")
	best := rs[0]
	for _, s := range rs {
		require.NotNil(t, s.r.Score, "abstained: %s", s.r.Abstain)
		require.NotEmpty(t, s.r.Reasons)
		require.Equal(t, s.fv.ID, s.r.Source)
		if *s.r.Score > *best.r.Score {
			best = s
		}
	}
	require.Equal(t, day.Add(12*time.Minute), best.fv.Start, "the miner's minute scores highest")
	require.Regexp(t, `^feature:(cpu\.user|load1)`, best.r.Reasons[0].ID)
}

// The explanation travels on into the fused alert, which is what the warehouse stores.
func TestStreamExplanationReachesAlert(t *testing.T) {
	path := filepath.Join(t.TempDir(), "iforest.json")
	require.NoError(t, trainHostModel(t, "quiet-day").Save(path))
	push, _, alerts, _ := runStreamAlerts(t, path, `
fuse:
  min_score: 0.5
`)
	day := t0.Add(96 * time.Hour)
	push(hostEvents(6, day, 20, map[int]bool{9: true}), true)
	var found *schemas.LayerBreakdown
	for _, a := range alerts() {
		for i, l := range a.Layers {
			if l.Layer == schemas.LayerIForest && l.Score != nil && len(l.Reasons) > 0 {
				found = &a.Layers[i]
			}
		}
	}
	require.NotNil(t, found, "an alert carries the iforest score with its reasons")
	require.Regexp(t, `^feature:(cpu\.user|load1)`, found.Reasons[0].ID)
	require.NotEmpty(t, found.Reasons[0].Evidence["median"])
}

// Bad model files are refused with a clear error while the stream keeps running on the
// previous model; without any model the layer abstains.
func TestStreamRefusesBadModelsAndKeepsRunning(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "iforest.json")
	push, results, logs := runStream(t, path)
	day := t0.Add(72 * time.Hour)
	minute := 0
	next := func(n int) []scored { // pushes n more minutes and returns their results
		before := len(results())
		push(hostEvents(uint64(10+minute), day.Add(time.Duration(minute)*time.Minute), n, nil), true)
		minute += n
		return results()[before:]
	}
	waitLog := func(s string) {
		require.Eventually(t, func() bool { return strings.Contains(logs.String(), s) }, 20*time.Second, 10*time.Millisecond,
			"log never said %q; logs:\n%s", s, logs.String())
	}

	// No model yet: abstain with the reason, never a 0.
	for _, s := range next(2) {
		require.Nil(t, s.r.Score)
		require.Contains(t, s.r.Abstain, "no isolation forest model loaded")
	}

	good := trainHostModel(t, "model-a")
	require.NoError(t, good.Save(path))
	waitLog(`reloaded model \"model-a\"`)
	for _, s := range next(2) {
		require.NotNil(t, s.r.Score)
		require.Equal(t, "model-a", s.r.Reasons[0].Evidence["model"])
	}

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	bad := []struct{ name, data, logged string }{
		{"truncated", string(b[:len(b)/2]), "truncated"},
		{"edited", strings.Replace(string(b), `"threshold":0.`, `"threshold":0.9`, 1), "checksum mismatch"},
		{"newer version", `{"format":"amoskys-iforest","format_version":2}`, "unsupported model format version"},
		{"not a model", `{"hello":"world"}`, "not an amoskys isolation forest model"},
	}
	for _, c := range bad {
		require.NoError(t, os.WriteFile(path, []byte(c.data), 0o644), c.name)
		waitLog(c.logged)
		for _, s := range next(1) {
			require.NotNil(t, s.r.Score, "%s: the stream keeps scoring with the previous model", c.name)
			require.Equal(t, "model-a", s.r.Reasons[0].Evidence["model"])
		}
	}
	require.Contains(t, logs.String(), "model refused, the previous model stays in force")

	require.NoError(t, trainHostModel(t, "model-b").Save(path))
	waitLog(`reloaded model \"model-b\"`)
	for _, s := range next(1) {
		require.Equal(t, "model-b", s.r.Reasons[0].Evidence["model"])
	}
}

// With no model_path the layer reads $AMOSKYS_MODELS_DIR/iforest.json.
func TestDefaultModelPathFromEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AMOSKYS_MODELS_DIR", dir)
	require.Equal(t, filepath.Join(dir, "iforest.json"), DefaultModelPath())
	require.NoError(t, trainHostModel(t, "from-env").Save(filepath.Join(dir, "iforest.json")))
	b := service.NewStreamBuilder()
	require.NoError(t, b.AddProcessorYAML(`iforest: {}`))
	prod, err := b.AddBatchProducerFunc()
	require.NoError(t, err)
	var got []schemas.LayerResult
	var mu sync.Mutex
	require.NoError(t, b.AddBatchConsumerFunc(func(_ context.Context, batch service.MessageBatch) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range batch {
			got = append(got, envelope.Layers(m)...)
		}
		return nil
	}))
	s, err := b.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	fv := hostVectors(t, hostEvents(7, t0, 2, nil))[0]
	// As it arrives from the bus: JSON bytes, decoded once by the envelope.
	raw, err := json.Marshal(fv)
	require.NoError(t, err)
	m := service.NewMessage(raw)
	m.MetaSetMut(envelope.MetaType, envelope.TypeFeatures)
	require.NoError(t, prod(t.Context(), service.MessageBatch{m}))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 1)
	require.NotNil(t, got[0].Score, got[0].Abstain)
	require.Equal(t, "from-env", got[0].Reasons[0].Evidence["model"])
}
