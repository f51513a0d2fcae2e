package fuse

import (
	"context"
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
