package geometric_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/envelope"
	_ "github.com/amoskys/amoskys/processors/geometric"
	"github.com/amoskys/amoskys/processors/window"
	"github.com/amoskys/amoskys/schemas"
)

// The window and geometric processors as a Benthos stream declares them: raw events pass the
// window at once and reach geometric, feature vectors follow when windows close, and the
// suspicious event carries the geometric layer result.
func TestWindowGeometricStream(t *testing.T) {
	sb := service.NewStreamBuilder()
	if err := sb.SetLoggerYAML("level: none"); err != nil {
		t.Fatal(err)
	}
	if err := sb.AddProcessorYAML(`window:
  allowed_lateness: 0s
  windows: [ { size: 1m, slide: 1m } ]`); err != nil {
		t.Fatal(err)
	}
	if err := sb.AddProcessorYAML(`geometric:
  rules_dirs: [ "` + filepath.Join(repoRoot(), "rules") + `" ]
  watch: false`); err != nil {
		t.Fatal(err)
	}
	produce, err := sb.AddBatchProducerFunc()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []*service.Message
	if err := sb.AddBatchConsumerFunc(func(_ context.Context, b service.MessageBatch) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, b...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	stream, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- stream.Run(ctx) }()

	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	shell := &schemas.TelemetryEvent{ID: "ev-shell", Kind: schemas.KindProcessExec, Host: "web1", Time: t0.Add(5 * time.Second),
		Process: &schemas.Process{PID: 7000, PPID: 6900, StartTime: t0.Add(5 * time.Second), Name: "sh", Exe: "/usr/bin/dash", Cmdline: "sh -c id", UID: 33, EUID: 33,
			Ancestry: []schemas.Ancestor{{PID: 6900, Name: "nginx", Exe: "/usr/sbin/nginx", UID: 33, EUID: 33}}}}
	cpu := &schemas.TelemetryEvent{ID: "ev-cpu", Kind: schemas.KindHostMetric, Host: "web1", Time: t0.Add(10 * time.Second), Metric: &schemas.Metric{Name: "cpu.user", Value: 12}}
	later := &schemas.TelemetryEvent{ID: "ev-later", Kind: schemas.KindHostMetric, Host: "web1", Time: t0.Add(70 * time.Second), Metric: &schemas.Metric{Name: "cpu.user", Value: 14}}
	for _, b := range [][]*schemas.TelemetryEvent{{shell, cpu}, {later}} {
		var batch service.MessageBatch
		for _, ev := range b {
			batch = append(batch, envelope.NewEvent(ev))
		}
		if err := produce(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	<-done

	mu.Lock()
	defer mu.Unlock()
	var shellLayers []schemas.LayerResult
	var vectors []*schemas.FeatureVector
	for _, m := range got {
		switch envelope.Type(m) {
		case envelope.TypeTelemetry:
			ev, err := envelope.Event(m)
			if err != nil {
				t.Fatal(err)
			}
			if ev.ID == "ev-shell" {
				shellLayers = envelope.Layers(m)
			} else if l := envelope.Layers(m); len(l) != 0 {
				t.Errorf("event %s got layers %+v", ev.ID, l)
			}
		case envelope.TypeFeatures:
			fv, err := envelope.Features(m)
			if err != nil {
				t.Fatal(err)
			}
			vectors = append(vectors, fv)
		}
	}
	if len(shellLayers) != 1 || shellLayers[0].Layer != "geometric" || shellLayers[0].Reasons[0].ID != "amoskys-shell-under-daemon" {
		t.Fatalf("shell layers %+v", shellLayers)
	}
	var host *schemas.FeatureVector
	for _, v := range vectors {
		if v.KeyKind == window.KindHost {
			host = v
		}
	}
	if host == nil || host.Window != "1m" {
		t.Fatalf("no 1m host vector among %d vectors", len(vectors))
	}
	if v, _ := host.Get("proc.exec_count"); v != 1 {
		t.Fatalf("proc.exec_count %v", v)
	}
	if v, _ := host.Get("cpu.user"); v != 12 {
		t.Fatalf("cpu.user %v", v)
	}
}
