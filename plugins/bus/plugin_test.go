package bus_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	_ "github.com/amoskys/amoskys/plugins/bus"
)

// producer publishes n telemetry-shaped messages (every 10th malformed) to the bus.
func producer(t *testing.T, dsn string, n, partitions int) {
	t.Helper()
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetYAML(fmt.Sprintf(`
input:
  generate:
    count: %d
    interval: ""
    batch_size: 50
    mapping: |
      root = if count("p") %% 10 == 0 { "{not json" } else { {"id": "e" + count("q").string(), "host": "h" + (count("r") %% 3).string(), "kind": "host_metric"} }
      meta amoskys_type = "telemetry"
output:
  bus:
    topic: telemetry
    dsn: %q
    partitions: %d
logger: {level: warn}
`, n, dsn, partitions)))
	s, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	require.NoError(t, s.Run(ctx))
}

// consumer reads the bus into a slice until it has want messages; failFirst nacks the first batch.
func consumer(t *testing.T, dsn string, want int, partitions, workers, worker int, failFirst bool) []*service.Message {
	t.Helper()
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.AddInputYAML(fmt.Sprintf(`
bus:
  topic: telemetry
  consumer_group: detect
  dsn: %q
  partitions: %d
  workers: %d
  worker: %d
`, dsn, partitions, workers, worker)))
	require.NoError(t, sb.SetLoggerYAML(`level: warn`))
	var mu sync.Mutex
	var got []*service.Message
	failed := !failFirst
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	require.NoError(t, sb.AddBatchConsumerFunc(func(_ context.Context, b service.MessageBatch) error {
		mu.Lock()
		defer mu.Unlock()
		if !failed {
			failed = true
			return errors.New("downstream failed once")
		}
		got = append(got, b...)
		if len(got) >= want {
			cancel()
		}
		return nil
	}))
	s, err := sb.Build()
	require.NoError(t, err)
	_ = s.Run(ctx)
	mu.Lock()
	defer mu.Unlock()
	return got
}

func TestBusStreamSQLite(t *testing.T) {
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "bus.db") + "?poll_interval=10ms"
	producer(t, dsn, 300, 1)
	got := consumer(t, dsn, 300, 1, 1, 0, true)
	require.Len(t, got, 300, "a nacked batch is redelivered, the rest arrive once")
	bad := 0
	for i, m := range got {
		b, err := m.AsBytes()
		require.NoError(t, err)
		if string(b) == "{not json" {
			bad++
		}
		v, _ := m.MetaGet("amoskys_type")
		require.Equal(t, "telemetry", v, "metadata travels, message %d", i)
	}
	require.Equal(t, 30, bad, "malformed messages pass through and do not stop the stream")
}

func TestBusStreamPartitions(t *testing.T) {
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "bus.db") + "?poll_interval=10ms"
	producer(t, dsn, 200, 4)
	hosts := map[int]map[string]bool{}
	total := 0
	for w := 0; w < 2; w++ {
		hosts[w] = map[string]bool{}
		// Each worker drains its own partitions; count what it owns by reading until quiet.
		got := consumerUntilQuiet(t, dsn, 4, 2, w)
		total += len(got)
		for _, m := range got {
			s, _ := m.AsStructured()
			if mm, ok := s.(map[string]any); ok {
				hosts[w][fmt.Sprint(mm["host"])] = true
			}
		}
	}
	require.Equal(t, 200, total, "every message read by exactly one worker")
	for h := range hosts[0] {
		require.False(t, hosts[1][h], "host %s in two workers", h)
	}
}

func consumerUntilQuiet(t *testing.T, dsn string, partitions, workers, worker int) []*service.Message {
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.AddInputYAML(fmt.Sprintf(`
bus: {topic: telemetry, consumer_group: detect, dsn: %q, partitions: %d, workers: %d, worker: %d}
`, dsn, partitions, workers, worker)))
	require.NoError(t, sb.SetLoggerYAML(`level: warn`))
	var mu sync.Mutex
	var got []*service.Message
	last := time.Now()
	require.NoError(t, sb.AddBatchConsumerFunc(func(_ context.Context, b service.MessageBatch) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, b...)
		last = time.Now()
		return nil
	}))
	s, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			mu.Lock()
			quiet := time.Since(last) > 2*time.Second
			mu.Unlock()
			if quiet {
				cancel()
			}
		}
	}()
	_ = s.Run(ctx)
	cancel()
	mu.Lock()
	defer mu.Unlock()
	return got
}
