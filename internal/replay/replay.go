// Package replay runs stored telemetry, in event-time order, through a pipeline file (possibly
// edited) and keeps the alerts it produces apart from the live ones: tagged with a run id in
// alerts_replay, the run itself in replay_runs. Diff compares a run with the live alerts or with
// another run. Every stage works on event time, so two replays of the same data through the same
// pipeline give the same alerts.
package replay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/schollz/progressbar/v3"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/schemas"
)

// Options describe one replay.
type Options struct {
	From, To time.Time // event-time window [From, To); zero = unbounded
	Hosts    []string  // only these hosts; empty = all
	Pipeline string    // stream config file; its input and output are replaced
	RunID    string    // empty: generated
	// Source overrides where events come from (JSONLSource); nil reads the warehouse.
	Source Source
	// Warehouse is read when Source is nil, and receives alerts_replay and replay_runs rows;
	// nil with a Source keeps the run in memory only.
	Warehouse warehouse.Warehouse
	// BatchSize is the number of events per Benthos batch (default 2000).
	BatchSize int
	// Progress receives a progress bar with events/s; nil shows none.
	Progress io.Writer
	// LogLevel is the Benthos log level of the replay stream (default "warn").
	LogLevel string
	// JSON sends events as JSON bytes, as the bus input does, for pipelines whose first stages
	// read the payload with Benthos' own processors (bloblang). By default events go in as decoded
	// structured values, which the AMOSKYS stages take without parsing (internal/envelope).
	JSON bool

	// GCPercent, when not 0, is the Go garbage collector's percent (debug.SetGCPercent) for the
	// run, restored after: a replay is a batch job, and the chain's per-message allocations
	// (most of them Benthos' own per stage) make collection a large share of its time at the
	// default 100. MemoryLimit (bytes, 0: none) is then the soft limit that keeps the heap in
	// bounds all the same (debug.SetMemoryLimit).
	GCPercent   int
	MemoryLimit int64

	// Workers > 1 splits the events by host over that many copies of the pipeline run side by
	// side (see partition.go); 0 or 1 runs one.
	Workers int
}

// Defaults of the replay and bench commands for Options.GCPercent and MemoryLimit.
const (
	DefaultGCPercent   = 400
	DefaultMemoryLimit = 4 << 30
)

// Result is what a replay produced.
type Result struct {
	RunID    string
	Events   int64
	Alerts   []*schemas.AlertEvent // final state of each alert, sorted by host, id
	Elapsed  time.Duration
	Pipeline string
	// Features counts the feature vector messages the pipeline put out.
	Features int64
}

// EventsPerSecond is the replay's throughput.
func (r *Result) EventsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Events) / r.Elapsed.Seconds()
}

// NewRunID returns a fresh run id: replay-<UTC time>-<random>.
func NewRunID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "replay-" + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Names of the input and output replay puts in place of the pipeline's own.
const (
	sourceName = "amoskys_replay_source"
	sinkName   = "amoskys_replay_sink"
)

// Run replays opts' events through opts.Pipeline and, with a warehouse, stores the run.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Pipeline == "" {
		return nil, errors.New("replay needs a pipeline file")
	}
	if opts.RunID == "" {
		opts.RunID = NewRunID()
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 2000
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "warn"
	}
	src := opts.Source
	if src == nil {
		if opts.Warehouse == nil {
			return nil, errors.New("replay needs a warehouse or JSONL files to read")
		}
		var err error
		if src, err = WarehouseSource(ctx, opts.Warehouse, opts.From, opts.To, opts.Hosts); err != nil {
			return nil, err
		}
	}
	if opts.GCPercent != 0 {
		defer debug.SetGCPercent(debug.SetGCPercent(opts.GCPercent))
		if opts.MemoryLimit > 0 {
			defer debug.SetMemoryLimit(debug.SetMemoryLimit(opts.MemoryLimit))
		}
	}
	started := time.Now().UTC()
	if opts.Warehouse != nil {
		if err := writeRun(ctx, opts, started, nil, "running", 0, 0, ""); err != nil {
			return nil, err
		}
	}
	var res *Result
	var err error
	if opts.Workers > 1 {
		res, err = runPartitioned(ctx, opts, src)
	} else {
		bar := newBar(opts, src.Total())
		res, err = run(ctx, opts, src, bar, nil)
		if err == nil && bar != nil {
			_ = bar.Finish()
		}
	}
	if opts.Warehouse != nil {
		fin := time.Now().UTC()
		status, msg := "done", ""
		var events int64
		var alerts int
		if res != nil {
			events, alerts = res.Events, len(res.Alerts)
		}
		if err == nil && alerts > 0 {
			if ierr := warehouse.InsertAlerts(ctx, opts.Warehouse, res.Alerts); ierr != nil {
				err = fmt.Errorf("writing alerts_replay: %w", ierr)
			}
		}
		if err != nil {
			status, msg = "failed", err.Error()
		}
		if werr := writeRun(ctx, opts, started, &fin, status, events, alerts, msg); werr != nil && err == nil {
			err = werr
		}
	}
	return res, err
}

// run replays src through one copy of the pipeline. bar (may be nil) counts the events sent;
// end, when not nil, gives the end of the range for the end-of-input message when To is not set.
func run(ctx context.Context, opts Options, src Source, bar *progressbar.ProgressBar, end func() time.Time) (*Result, error) {
	conf, err := pipelineYAMLWith(opts.Pipeline, map[string]any{sourceName: map[string]any{}},
		map[string]any{sinkName: map[string]any{}})
	if err != nil {
		return nil, err
	}
	env := service.NewEnvironment()
	if err := registerBench(env); err != nil {
		return nil, err
	}
	var events int64
	var readErr error
	err = env.RegisterBatchInput(sourceName, service.NewConfigSpec(), func(*service.ParsedConfig, *service.Resources) (service.BatchInput, error) {
		return &sourceInput{src: src, n: opts.BatchSize, count: &events, bar: bar, err: &readErr, json: opts.JSON, end: opts.To, endFn: end}, nil
	})
	if err != nil {
		return nil, err
	}
	col := &collector{latest: map[string]*schemas.AlertEvent{}}
	err = env.RegisterBatchOutput(sinkName, service.NewConfigSpec(), func(*service.ParsedConfig, *service.Resources) (service.BatchOutput, service.BatchPolicy, int, error) {
		return col, service.BatchPolicy{}, 1, nil
	})
	if err != nil {
		return nil, err
	}
	sb := env.NewStreamBuilder()
	if err := sb.SetYAML(conf); err != nil {
		return nil, fmt.Errorf("%s: %w", opts.Pipeline, err)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(opts.LogLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", opts.LogLevel, err)
	}
	// Logs on stderr: stdout is the run's result and diff.
	sb.SetLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})))
	if err := sb.SetMetricsYAML("none: {}"); err != nil {
		return nil, err
	}
	stream, err := sb.Build()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opts.Pipeline, err)
	}
	t0 := time.Now()
	if err := stream.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if readErr != nil {
		return nil, readErr
	}
	res := &Result{RunID: opts.RunID, Events: events, Elapsed: time.Since(t0), Pipeline: opts.Pipeline}
	res.Alerts = col.alerts(opts.RunID)
	res.Features = col.features
	return res, nil
}

// sourceInput feeds a Source into the stream as structured TelemetryEvent messages.
type sourceInput struct {
	src   Source
	n     int
	count *int64
	bar   *progressbar.ProgressBar
	err   *error
	json  bool
	// eofSent: the end-of-input control message has gone out; the next read ends the input.
	eofSent bool
	end     time.Time // the replay's To: the end of the range the control message announces
	last    time.Time // the latest event time sent (the range's end when To is not set)
	// endFn, when set, gives the latest event time of the whole replay, for a copy that ran
	// only some hosts (partitioned replay): every copy announces the same end.
	endFn func() time.Time
}

func (s *sourceInput) Connect(context.Context) error { return nil }

func (s *sourceInput) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	if s.eofSent {
		return nil, nil, service.ErrEndOfInput
	}
	evs, err := s.src.Next(ctx, s.n)
	if err != nil {
		*s.err = err
		return nil, nil, service.ErrEndOfInput
	}
	if len(evs) == 0 {
		// The end: a control message with the end of the replayed range (To, else just after
		// the last event) closes the windows that range holds (the window stage) and releases
		// held-back alert counts, so the replay's last windows are judged like the others.
		s.eofSent = true
		end := s.end
		last := s.last
		if s.endFn != nil {
			last = s.endFn()
		}
		if end.IsZero() && !last.IsZero() {
			end = last.Add(time.Nanosecond) // the range ends with the last event
		}
		return service.MessageBatch{envelope.NewEOF(end)}, func(context.Context, error) error { return nil }, nil
	}
	for _, ev := range evs {
		if ev.Time.After(s.last) {
			s.last = ev.Time
		}
	}
	batch := make(service.MessageBatch, len(evs))
	for i, ev := range evs {
		if s.json {
			b, err := json.Marshal(ev)
			if err != nil {
				*s.err = err
				return nil, nil, service.ErrEndOfInput
			}
			batch[i] = service.NewMessage(b)
			batch[i].MetaSetMut(envelope.MetaType, envelope.TypeTelemetry)
			continue
		}
		batch[i] = envelope.NewEvent(ev)
	}
	*s.count += int64(len(evs))
	if s.bar != nil {
		_ = s.bar.Add(len(evs))
	}
	return batch, func(context.Context, error) error { return nil }, nil
}

func (s *sourceInput) Close(context.Context) error { return nil }

// collector keeps the last state of every alert the pipeline emits.
type collector struct {
	mu     sync.Mutex
	seq    int
	latest map[string]*schemas.AlertEvent
	// features counts feature vector messages (an int, not a map by type: the collector's
	// work per message is part of every benchmark run).
	features int64
}

func (c *collector) Connect(context.Context) error { return nil }

func (c *collector) Close(context.Context) error { return nil }

func (c *collector) WriteBatch(_ context.Context, b service.MessageBatch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range b {
		typ := envelope.Type(m)
		if typ != envelope.TypeAlert {
			if typ == envelope.TypeFeatures {
				c.features++
			}
			continue
		}
		a, err := envelope.Alert(m)
		if err != nil {
			continue
		}
		cp := *a
		if prev, ok := c.latest[cp.ID]; ok && newer(prev, &cp) {
			continue
		}
		c.latest[cp.ID] = &cp
	}
	return nil
}

// newer says whether a is a later state than b of the same alert (event time, then count).
func newer(a, b *schemas.AlertEvent) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.After(b.Time)
	}
	return a.Count > b.Count
}

func (c *collector) alerts(runID string) []*schemas.AlertEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*schemas.AlertEvent, 0, len(c.latest))
	for _, a := range c.latest {
		a.RunID = runID
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Host != out[j].Host {
			return out[i].Host < out[j].Host
		}
		return out[i].ID < out[j].ID
	})
	return out
}

var runColumns = []string{"run_id", "version", "status", "pipeline", "from_time", "to_time", "hosts",
	"started_at", "finished_at", "events", "alerts", "error", "params"}

func writeRun(ctx context.Context, o Options, started time.Time, finished *time.Time, status string, events int64, alerts int, msg string) error {
	params, _ := json.Marshal(map[string]any{"batch_size": o.BatchSize, "jsonl": o.Source != nil})
	version := uint64(1)
	var fin any
	if finished != nil {
		version = 2
		fin = *finished
	}
	hosts := o.Hosts
	if hosts == nil {
		hosts = []string{}
	}
	row := []any{o.RunID, version, status, o.Pipeline, timeOrEpoch(o.From), timeOrEpoch(o.To), hosts,
		started, fin, uint64(events), uint64(alerts), msg, string(params)}
	if err := o.Warehouse.Insert(ctx, warehouse.TableReplayRuns, runColumns, [][]any{row}); err != nil {
		return fmt.Errorf("writing replay_runs: %w", err)
	}
	return nil
}

func timeOrEpoch(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return t.UTC()
}
