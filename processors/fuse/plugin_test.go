package fuse

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/schemas"
)

func TestPluginFusesMessages(t *testing.T) {
	conf, err := spec().ParseYAML(`min_score: 0.3`, nil)
	require.NoError(t, err)
	p, err := newProcessor(conf, service.MockResources())
	require.NoError(t, err)

	ev := &schemas.TelemetryEvent{ID: "e1", Kind: schemas.KindProcessExec, Time: t0, Host: "h1",
		Process: &schemas.Process{PID: 42, StartTime: time.Unix(1700000000, 0), Name: "sh", Exe: "/bin/sh"}}
	m1 := envelope.NewEvent(ev)
	envelope.AddLayer(m1, res("geometric", 0.5, schemas.Reason{ID: "rule-1", Title: "Shell under nginx", Level: "critical", Tags: []string{"attack.execution"}}))
	quiet := envelope.NewEvent(&schemas.TelemetryEvent{ID: "e2", Kind: schemas.KindProcessExec, Time: t0, Host: "h1",
		Process: &schemas.Process{PID: 43, Name: "ls"}})
	envelope.AddLayer(quiet, res("geometric", 0))
	fv := envelope.NewFeatures(&schemas.FeatureVector{ID: "fv1", Host: "h1", KeyKind: "process", Key: "proc:42@1700000000",
		Entity: "sh", Window: "1m", Start: t0, End: t0.Add(time.Minute), EventIDs: []string{"e1", "e9"}})
	envelope.AddLayer(fv, res("temporal", 0.7))
	envelope.AddLayer(fv, abstain("iforest", "no model"))
	bad := service.NewMessage([]byte("{not json"))

	out, err := p.ProcessBatch(t.Context(), service.MessageBatch{m1, quiet, fv, bad})
	require.NoError(t, err)
	require.Len(t, out, 1)
	require.Len(t, out[0], 3, "two alerts and the failed message")
	a1, err := envelope.Alert(out[0][0])
	require.NoError(t, err)
	require.Equal(t, schemas.SeverityCritical, a1.Severity)
	require.Equal(t, "/bin/sh", a1.Entity)
	require.Equal(t, []string{"attack.execution"}, a1.Tags)
	a2, err := envelope.Alert(out[0][1])
	require.NoError(t, err)
	require.Equal(t, a1.ID, a2.ID, "the window result re-scores the exec-time alert")
	require.Len(t, a2.Layers, 3)
	require.Equal(t, []string{"e1", "fv1", "e9"}, a2.EvidenceIDs)
	require.Error(t, out[0][2].GetError())
	require.NoError(t, p.Close(context.Background()))
}

// The plugin's shortcuts (no layers, every layer abstaining with no open alert) give the same
// alerts, in the same order, as folding every input with layers through Fuser.Process.
func TestPluginShortcutsMatchProcess(t *testing.T) {
	conf, err := spec().ParseYAML(`{ min_score: 0.3, open_for: 2m }`, nil)
	require.NoError(t, err)
	p, err := newProcessor(conf, service.MockResources())
	require.NoError(t, err)
	ref, err := New(p.(*processor).f.cfg)
	require.NoError(t, err)
	var batch service.MessageBatch
	var want []string
	for i := 0; i < 400; i++ {
		ts := t0.Add(time.Duration(i) * 7 * time.Second)
		host := []string{"h1", "h2"}[i%2]
		var m *service.Message
		if i%3 == 0 {
			m = envelope.NewEvent(&schemas.TelemetryEvent{ID: fmt.Sprintf("e%d", i), Kind: schemas.KindProcessExec, Time: ts, Host: host,
				Process: &schemas.Process{PID: int32(100 + i%5), StartTime: t0, Name: "sh", Exe: "/bin/sh"}})
		} else {
			m = envelope.NewFeatures(&schemas.FeatureVector{ID: fmt.Sprintf("fv%d", i), Host: host, KeyKind: "process",
				Key: fmt.Sprintf("proc:%d@%d", 100+i%5, t0.Unix()), Entity: "sh", Window: "1m", Start: ts.Add(-time.Minute), End: ts,
				EventIDs: []string{fmt.Sprintf("e%d", i-1)}})
		}
		switch i % 11 {
		case 0, 4:
			envelope.AddLayer(m, res("geometric", 0.8, schemas.Reason{ID: "r1", Title: "rule", Level: "high"}))
		case 1, 2, 5, 7, 8:
			envelope.AddLayer(m, abstain("temporal", "warming up"))
			envelope.AddLayer(m, abstain("iforest", "no model"))
		case 3:
			envelope.AddLayer(m, res("temporal", 0.6))
		}
		if len(envelope.Layers(m)) > 0 {
			in, err := InputOf(m)
			require.NoError(t, err)
			if a, ok := ref.Process(in); ok {
				b, _ := json.Marshal(a)
				want = append(want, string(b))
			}
		}
		batch = append(batch, m)
	}
	batch = append(batch, envelope.NewEOF(time.Time{}))
	out, err := p.ProcessBatch(t.Context(), batch)
	require.NoError(t, err)
	var got []string
	for _, m := range out[0] {
		if envelope.Type(m) == envelope.TypeAlert {
			a, err := envelope.Alert(m)
			require.NoError(t, err)
			b, _ := json.Marshal(a)
			got = append(got, string(b))
		}
		require.NoError(t, m.GetError(), "a control message passes untouched")
	}
	require.NotEmpty(t, want)
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i], got[i], "alert %d", i)
	}
}
