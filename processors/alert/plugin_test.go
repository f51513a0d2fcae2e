package alert

import (
	"fmt"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/alertstore"
	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/schemas"
)

func TestPluginDedupsPublishesAndKeepsStatus(t *testing.T) {
	conf, err := spec().ParseYAML(`
update_interval: 0s
exceptions:
  - name: lab
    host: lab1
`, nil)
	require.NoError(t, err)
	bp, err := newProcessor(conf, service.MockResources())
	require.NoError(t, err)
	p := bp.(*processor)
	defer p.Close(t.Context())
	sub := alertstore.Default.Subscribe(16)
	defer sub.Cancel()

	batch := service.MessageBatch{
		envelope.NewAlert(fused("f1", "h1", "/bin/sh", t0, 0.8, schemas.SeverityHigh, "r1")),
		envelope.NewAlert(fused("f2", "h1", "/bin/sh", t0.Add(time.Second), 0.8, schemas.SeverityHigh, "r1")),
		envelope.NewAlert(fused("f3", "lab1", "/bin/sh", t0, 0.8, schemas.SeverityHigh, "r1")),
		envelope.NewEvent(&schemas.TelemetryEvent{ID: "passes"}),
	}
	out, err := p.ProcessBatch(t.Context(), batch)
	require.NoError(t, err)
	require.Len(t, out[0], 3, "two alert versions and the pass-through event")
	a2, err := envelope.Alert(out[0][1])
	require.NoError(t, err)
	require.Equal(t, "f1", a2.ID)
	require.EqualValues(t, 2, a2.Count)
	id, _ := out[0][1].MetaGet("amoskys_alert_id")
	require.Equal(t, "f1", id)
	got := <-sub.C
	require.Equal(t, "f1", got.ID)

	// an acknowledgement through the hub sticks to later updates
	alertstore.Default.StatusChanged(alertstore.StatusChange{ID: "f1", Status: schemas.StatusAcknowledged, By: "ana", At: t0, Version: 10})
	out, err = p.ProcessBatch(t.Context(), service.MessageBatch{envelope.NewAlert(fused("f4", "h1", "/bin/sh", t0.Add(2*time.Second), 0.8, schemas.SeverityHigh, "r1"))})
	require.NoError(t, err)
	a3, err := envelope.Alert(out[0][0])
	require.NoError(t, err)
	require.Equal(t, schemas.StatusAcknowledged, a3.Status)
	require.EqualValues(t, 11, a3.Version)
}

// The end-of-input control message releases a count update held back by update_interval: the
// last state of a replay's alerts carries every repeat.
func TestPluginEOFReleasesHeldCounts(t *testing.T) {
	conf, err := spec().ParseYAML(`update_interval: 1h`, nil)
	require.NoError(t, err)
	bp, err := newProcessor(conf, service.MockResources())
	require.NoError(t, err)
	p := bp.(*processor)
	defer p.Close(t.Context())
	out, err := p.ProcessBatch(t.Context(), service.MessageBatch{
		envelope.NewAlert(fused("f1", "h9", "/bin/nc", t0, 0.8, schemas.SeverityHigh, "r1")),
		envelope.NewAlert(fused("f2", "h9", "/bin/nc", t0.Add(time.Second), 0.8, schemas.SeverityHigh, "r1")),
	})
	require.NoError(t, err)
	require.Len(t, out[0], 1, "the repeat is folded, its update held back")
	eof := envelope.NewEOF(time.Time{})
	out, err = p.ProcessBatch(t.Context(), service.MessageBatch{eof})
	require.NoError(t, err)
	require.Len(t, out[0], 2, "the control message, then the released update")
	require.Same(t, eof, out[0][0])
	a, err := envelope.Alert(out[0][1])
	require.NoError(t, err)
	require.Equal(t, "f1", a.ID)
	require.EqualValues(t, 2, a.Count)
	out, err = p.ProcessBatch(t.Context(), service.MessageBatch{envelope.NewEOF(time.Time{})})
	require.NoError(t, err)
	require.Len(t, out[0], 1, "nothing held any more")
}

// Held-back count updates come out right after the alert whose event time releases them, so the
// output is the same whatever the batch boundaries.
func TestPluginOutputIndependentOfBatches(t *testing.T) {
	var in []*schemas.AlertEvent
	for i := 0; i < 120; i++ {
		host := []string{"h1", "h2", "h3"}[i%3]
		in = append(in, fused(fmt.Sprintf("f%d", i), host, "/bin/sh", t0.Add(time.Duration(i)*3*time.Second), 0.8, schemas.SeverityHigh, "r1"))
	}
	run := func(size int) []string {
		conf, err := spec().ParseYAML(`{ update_interval: 10s, publish_local: false }`, nil)
		require.NoError(t, err)
		bp, err := newProcessor(conf, service.MockResources())
		require.NoError(t, err)
		defer bp.Close(t.Context())
		var got []string
		for i := 0; i < len(in); i += size {
			var b service.MessageBatch
			for _, a := range in[i:min(i+size, len(in))] {
				c := *a
				b = append(b, envelope.NewAlert(&c))
			}
			out, err := bp.ProcessBatch(t.Context(), b)
			require.NoError(t, err)
			for _, ob := range out {
				for _, m := range ob {
					a, err := envelope.Alert(m)
					require.NoError(t, err)
					got = append(got, fmt.Sprintf("%s %d %d %s", a.ID, a.Count, a.Version, a.LastSeen.Format(time.TimeOnly)))
				}
			}
		}
		return got
	}
	one := run(1)
	require.Greater(t, len(one), 3)
	for _, size := range []int{2, 7, 50, 120} {
		require.Equal(t, one, run(size), "batches of %d", size)
	}
}
