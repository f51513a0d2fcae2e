package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/plugins/bus"
	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/schemas"
)

// TestReplayOfLivePeriodGivesLiveAlerts runs pipelines/detect.yaml live (bus input on SQLite,
// alerts to the chDB warehouse), fed in bus batches of another size than replay uses, then replays
// the same period from the warehouse: the diff against the live alerts is empty.
func TestReplayOfLivePeriodGivesLiveAlerts(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	pipeline := filepath.Join(root, "pipelines", "detect.yaml")
	if _, err := os.Stat(pipeline); err != nil {
		t.Skipf("no detect pipeline: %v", err)
	}
	w := openCHDB(t)
	whDSN := "chdb://" + chdbDir(t, w)
	dir := t.TempDir()
	busDSN := "sqlite://" + filepath.Join(dir, "bus.db") + "?poll_interval=10ms"
	rules := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(rules, "test_tool.yml"), []byte(fmt.Sprintf(ruleTemplate, "nc")), 0o600))
	t.Setenv("AMOSKYS_RULES_DIR", rules)
	t.Setenv("AMOSKYS_MODELS_DIR", t.TempDir())
	t.Setenv("AMOSKYS_BUS_DSN", busDSN)
	t.Setenv("AMOSKYS_WAREHOUSE_DSN", whDSN)

	evs := execs(300)
	host := evs[0].Host
	require.NoError(t, warehouse.InsertTelemetry(t.Context(), w, evs)) // what collect stores

	// Live: publish to the bus in batches of 37, as agents would.
	b, err := bus.Open(busDSN)
	require.NoError(t, err)
	defer b.Close()
	for i := 0; i < len(evs); i += 37 {
		var recs []bus.Record
		for _, ev := range evs[i:min(i+37, len(evs))] {
			recs = append(recs, bus.Record{Payload: mustJSON(t, ev), Metadata: map[string]string{"amoskys_type": "telemetry"}})
		}
		require.NoError(t, b.Publisher().Publish("telemetry", bus.Pack(recs)))
	}
	// The live period ends as a replay does, with the end-of-input control message: both judge
	// the windows still open at the end (otherwise the live run drops them at shutdown).
	to := evs[len(evs)-1].Time.Add(time.Second)
	require.NoError(t, b.Publisher().Publish("telemetry", bus.Pack([]bus.Record{{Payload: []byte("{}"),
		Metadata: map[string]string{envelope.MetaType: envelope.TypeControl, envelope.MetaEOF: "true",
			envelope.MetaEOFTime: to.Format(time.RFC3339Nano)}}})))
	data, err := os.ReadFile(pipeline)
	require.NoError(t, err)
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetYAML(string(data)))
	require.NoError(t, sb.SetLoggerYAML("level: error"))
	stream, err := sb.Build()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- stream.Run(context.Background()) }()
	require.Eventually(t, func() bool {
		n, err := b.Lag(t.Context(), "telemetry", "detect")
		return err == nil && n == 0
	}, 2*time.Minute, 50*time.Millisecond, "live detect consumed the bus")
	require.NoError(t, stream.StopWithin(time.Minute))
	<-done

	from := evs[0].Time
	live, err := LiveAlerts(t.Context(), w, from, to, nil)
	require.NoError(t, err)
	require.NotEmpty(t, live, "the live run raised alerts (host %s)", host)

	res, err := Run(t.Context(), Options{Pipeline: pipeline, Warehouse: w, From: from, To: to, BatchSize: 50})
	require.NoError(t, err)
	require.EqualValues(t, len(evs), res.Events)
	d := Compare("live", live, Summaries(res.Alerts))
	require.Empty(t, d.Added, "replay adds nothing to the live alerts")
	require.Empty(t, d.Removed, "replay misses no live alert")
	require.Empty(t, d.Rescored, "replay scores as live did")
	require.Equal(t, len(live), d.Unchanged)
}

func mustJSON(t *testing.T, ev *schemas.TelemetryEvent) []byte {
	b, err := json.Marshal(ev)
	require.NoError(t, err)
	return b
}
