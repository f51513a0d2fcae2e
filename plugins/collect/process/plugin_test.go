//go:build linux

package process

import (
	"context"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	_ "github.com/amoskys/amoskys/processors/normalise"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/schemas"
)

func TestPluginStream(t *testing.T) {
	b := service.NewStreamBuilder()
	require.NoError(t, b.SetLoggerYAML("level: warn"))
	require.NoError(t, b.AddInputYAML(`
process:
  interval: 500ms
  sample_top_n: 5
  host: plugtest
`))
	require.NoError(t, b.AddProcessorYAML("normalise: {}"))
	var mu sync.Mutex
	var got []*schemas.TelemetryEvent
	require.NoError(t, b.AddBatchConsumerFunc(func(_ context.Context, batch service.MessageBatch) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range batch {
			require.NoError(t, m.GetError())
			ev, err := envelope.Event(m)
			require.NoError(t, err)
			got = append(got, ev)
		}
		return nil
	}))
	stream, err := b.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- stream.Run(ctx) }()
	defer func() { cancel(); <-done }()

	cmd := exec.Command("/bin/sleep", "1.5")
	deadline := time.Now().Add(20 * time.Second)
	started := false
	for time.Now().Before(deadline) {
		if !started {
			time.Sleep(300 * time.Millisecond) // let the input connect
			require.NoError(t, cmd.Start())
			started = true
			go func() { _ = cmd.Wait() }()
		}
		mu.Lock()
		var exec, sample bool
		for _, ev := range got {
			exec = exec || ev.Kind == schemas.KindProcessExec && int(ev.Process.PID) == cmd.Process.Pid
			sample = sample || ev.Kind == schemas.KindProcessSample
		}
		mu.Unlock()
		if exec && sample {
			mu.Lock()
			require.Equal(t, "plugtest", got[0].Host)
			require.Len(t, got[0].ID, 32)
			mu.Unlock()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no process_exec for the spawned sleep, or no process_sample, through the stream")
}
