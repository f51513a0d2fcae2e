package replay

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/schemas"
)

// A replay split by host over 2 or 3 copies of detect.yaml (with an iforest model, so every
// layer takes part) gives the alerts, in the same final state, the events and the feature
// vectors of a single copy: every stage keeps its state per host, and every copy announces the
// same end of input. Only an alert's version (how many updates of it were emitted) may differ:
// the alert stage releases folded repeats by the event time of all the hosts it sees.
func TestPartitionedReplayEqualsSingle(t *testing.T) {
	n := 60000
	if testing.Short() {
		n = 20000
	}
	models, _, err := BenchModel(t.TempDir(), n/5, 7, t0)
	require.NoError(t, err)
	t.Setenv("AMOSKYS_MODELS_DIR", models)
	t.Setenv("AMOSKYS_RULES_DIR", filepath.Join("..", "..", "rules"))
	// The hosts of one partition of three stop sending a third before the end: their copy must
	// still close their windows up to the end of the whole replay, as one copy does.
	var evs []*schemas.TelemetryEvent
	for i, ev := range withAnomalies(Synthetic(n, 7, t0)) {
		if i > 2*n/3 && partitionOf(ev.Host, 3) == 0 {
			continue
		}
		evs = append(evs, ev)
	}
	pipeline := filepath.Join("..", "..", "pipelines", "detect.yaml")
	replay := func(workers int) (*Result, string) {
		res, err := Run(context.Background(), Options{Pipeline: pipeline, Source: &sliceSource{evs: evs},
			RunID: "partition", BatchSize: 1000, Workers: workers})
		require.NoError(t, err)
		for _, a := range res.Alerts {
			require.NotZero(t, a.Version, a.ID)
			a.Version = 0
		}
		b, err := json.Marshal(res.Alerts)
		require.NoError(t, err)
		return res, string(b)
	}
	one, oneAlerts := replay(1)
	require.NotEmpty(t, one.Alerts, "the anomalies raise alerts")
	hosts := map[string]bool{}
	for _, a := range one.Alerts {
		hosts[a.Host] = true
	}
	require.Greater(t, len(hosts), 2, "alerts on several hosts, so the copies each hold some")
	for _, w := range []int{2, 3} {
		res, alerts := replay(w)
		require.Equal(t, one.Events, res.Events, "%d copies: events", w)
		require.Equal(t, one.Features, res.Features, "%d copies: feature vectors", w)
		require.Equal(t, oneAlerts, alerts, "%d copies: alerts", w)
	}
}

// errAfter yields evs, then fails.
type errAfter struct {
	sliceSource
	err error
}

func (s *errAfter) Next(ctx context.Context, n int) ([]*schemas.TelemetryEvent, error) {
	out, _ := s.sliceSource.Next(ctx, n)
	if len(out) == 0 {
		return nil, s.err
	}
	return out, nil
}

// A source that fails part way fails the split replay with its own error, not a cancellation.
func TestPartitionedReplaySourceError(t *testing.T) {
	t.Setenv("AMOSKYS_RULES_DIR", filepath.Join("..", "..", "rules"))
	t.Setenv("AMOSKYS_MODELS_DIR", t.TempDir())
	boom := errors.New("warehouse read failed at page 3")
	src := &errAfter{sliceSource: sliceSource{evs: Synthetic(5000, 4, t0)}, err: boom}
	_, err := Run(context.Background(), Options{Pipeline: filepath.Join("..", "..", "pipelines", "detect.yaml"),
		Source: src, RunID: "partition-error", BatchSize: 500, Workers: 2})
	require.ErrorIs(t, err, boom)
}
