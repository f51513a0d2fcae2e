package clickhouse

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/clickhouse"
	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/schemas"
)

// BenchOptions configures RunBench.
type BenchOptions struct {
	DSN       string // warehouse to write to (a fresh chdb dir by default)
	Rows      int    // rows per measurement
	Batch     int    // rows per insert / output batch
	AggRows   int    // rows in the table the aggregation reads
	AggRuns   int    // aggregation repetitions (median reported)
	SkipSlow  bool   // skip the inline TSV baseline
	Log       func(format string, args ...any)
	BenthosIO bool // also measure through the Benthos clickhouse output
	// InFlight is the output's max_in_flight (and how many batches the bench keeps in flight).
	InFlight int
	// OutputOnly measures only the Benthos output paths (no insert methods, no aggregation).
	OutputOnly bool
}

// BenchResult is one measured way of writing rows.
type BenchResult struct {
	Name       string
	Rows       int
	Wall       time.Duration
	CPU        time.Duration
	RowsPerSec float64
	RowsPerCPU float64
	// Split is the CPU by thread group (see cpuByGroup): where the time went.
	Split map[string]time.Duration
}

// CPU groups of BenchResult.Split, by thread name: the Go runtime's threads keep the process
// name (they also run the engine's work on the calling thread: parsing, planning); the engine
// names its own (MergeMutate: background merges; QueryPipelineEx, ThreadPool, ...: the insert
// pipelines). "exited": CPU of threads that ended between two samples; "final merge": the
// OPTIMIZE FINAL that ends each measurement.
const (
	GroupGo     = "go+caller"
	GroupMerge  = "merges"
	GroupEngine = "engine insert"
	GroupExited = "exited"
	GroupFinal  = "final merge"
)

// threadStat is one thread's group (by its current name) and CPU time so far.
type threadStat struct {
	group string
	cpu   time.Duration
}

// threads reads the CPU time and name of every live thread of the process.
func threads() map[string]threadStat {
	out := map[string]threadStat{}
	self, _ := os.ReadFile("/proc/self/comm")
	me := strings.TrimSpace(string(self))
	ents, _ := os.ReadDir("/proc/self/task")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		st := string(b)
		l, r := strings.IndexByte(st, '('), strings.LastIndexByte(st, ')')
		if l < 0 || r < l || r+2 > len(st) {
			continue
		}
		f := strings.Fields(st[r+2:])
		if len(f) < 13 {
			continue
		}
		var ut, stime int64
		fmt.Sscan(f[11], &ut)
		fmt.Sscan(f[12], &stime)
		g := GroupEngine
		switch comm := st[l+1 : r]; {
		case comm == me:
			g = GroupGo
		case strings.HasPrefix(comm, "MergeMutate"):
			g = GroupMerge
		}
		out[e.Name()] = threadStat{group: g, cpu: time.Duration(ut+stime) * time.Second / time.Duration(clockTicks)}
	}
	return out
}

// cpuSplit samples the threads every 100 ms until stop is closed, and sends the CPU used by
// each group. The engine's pool threads take the name of the task they run, so each interval
// is credited to the name a thread has at its end (sampling often keeps that close).
func cpuSplit(stop <-chan struct{}) <-chan map[string]time.Duration {
	res := make(chan map[string]time.Duration, 1)
	prev := threads()
	go func() {
		acc := map[string]time.Duration{}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for done := false; !done; {
			select {
			case <-tick.C:
			case <-stop:
				done = true
			}
			cur := threads()
			for tid, t := range cur {
				acc[t.group] += max(t.cpu-prev[tid].cpu, 0)
			}
			prev = cur
		}
		res <- acc
	}()
	return res
}

// clockTicks is USER_HZ, the unit of /proc/PID/task/TID/stat times (100 on Linux).
const clockTicks = 100

// BenchReport is what RunBench measured.
type BenchReport struct {
	Results     []BenchResult
	AggQuery    string
	AggRows     int
	AggLatency  time.Duration   // median
	AggRuns     []time.Duration // every run
	LoadAvg     string
	CPUs        int
	Backend     string
	LibraryPath string
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchEvents makes n host_metric telemetry events with stable, distinct ids (8-column rows).
func BenchEvents(prefix string, n int) []*schemas.TelemetryEvent {
	return BenchEventsOn(prefix, n, 0)
}

// benchDay is the first event time of BenchEventsOn(..., day).
func benchDay(day int) time.Time { return time.Date(2026, 11, 20+day, 0, 0, 0, 0, time.UTC) }

// BenchEventsOn is BenchEvents on day 2026-11-20 + day: a measurement on its own day has its own
// partition, so its parts never merge with an earlier measurement's (which would make the later
// measurement pay for rewriting the earlier rows).
func BenchEventsOn(prefix string, n, day int) []*schemas.TelemetryEvent {
	base := benchDay(day)
	names := []string{"cpu.user", "cpu.system", "mem.used_bytes", "net.rx_bytes_per_s", "net.tx_bytes_per_s", "disk.read_bytes_per_s"}
	evs := make([]*schemas.TelemetryEvent, n)
	for i := range evs {
		evs[i] = &schemas.TelemetryEvent{SchemaVersion: schemas.TelemetryVersion, ID: fmt.Sprintf("%s-%d", prefix, i),
			Kind: schemas.KindHostMetric, Time: base.Add(time.Duration(i) * time.Millisecond),
			Host: fmt.Sprintf("host-%02d", i%16), Source: "bench",
			Metric: &schemas.Metric{Name: names[i%len(names)], Value: float64(i%1000) / 10, Unit: "percent"}}
	}
	return evs
}

// measure times f. Wall is the ingest time the pipeline sees; CPU also counts the background
// merges the inserts caused (measured until no merge runs), for they are part of the cost.
//
// The background merges an ingest causes run on after it, as the merge selector decides, so
// what they cost inside any fixed window varies from run to run. To compare paths on the same
// footing, every measurement ends by merging what it wrote into one part (optimize: an OPTIMIZE
// ... FINAL statement for the measurement's partition); that CPU is its "final merge" share.
func measure(ctx context.Context, w warehouse.Warehouse, name string, rows int, optimize string, f func() error) (BenchResult, error) {
	settle(ctx, w)
	stop := make(chan struct{})
	split := cpuSplit(stop)
	c0, w0 := cpuNow(), time.Now()
	if err := f(); err != nil {
		close(stop)
		return BenchResult{}, fmt.Errorf("%s: %w", name, err)
	}
	wall := time.Since(w0)
	settle(ctx, w)
	close(stop)
	t1 := <-split
	c1 := cpuNow()
	if err := w.Exec(ctx, optimize); err != nil {
		return BenchResult{}, fmt.Errorf("%s: %w", optimize, err)
	}
	settle(ctx, w)
	r := BenchResult{Name: name, Rows: rows, Wall: wall, CPU: cpuNow() - c0, Split: map[string]time.Duration{}}
	rest := c1 - c0
	for g, d := range t1 {
		r.Split[g] = d
		rest -= d
	}
	r.Split[GroupExited] = max(rest, 0)
	r.Split[GroupFinal] = r.CPU - (c1 - c0)
	r.RowsPerSec = float64(rows) / r.Wall.Seconds()
	if r.CPU > 0 {
		r.RowsPerCPU = float64(rows) / r.CPU.Seconds()
	}
	return r, nil
}

// RunBench measures, in one process and one run: each chDB insert method on batches of
// o.Batch rows, the Benthos clickhouse output end to end, and an aggregation over o.AggRows rows.
func RunBench(ctx context.Context, o BenchOptions) (*BenchReport, error) {
	if o.Rows <= 0 {
		o.Rows = 500_000
	}
	if o.Batch <= 0 {
		o.Batch = 10_000
	}
	if o.AggRows <= 0 {
		o.AggRows = 1_000_000
	}
	if o.AggRuns <= 0 {
		o.AggRuns = 5
	}
	if o.InFlight <= 0 {
		o.InFlight = defaultMaxInFlight
	}
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if o.DSN == "" {
		dir, err := os.MkdirTemp("", "amoskys-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		o.DSN = "chdb://" + dir
	}
	w, err := warehouse.Open(ctx, o.DSN)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	if err := warehouse.Migrate(ctx, w, clickhouse.Migrations()); err != nil {
		return nil, err
	}
	rep := &BenchReport{Backend: w.Backend(), LibraryPath: warehouse.LibraryPath(), CPUs: numCPU()}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		rep.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	run := fmt.Sprintf("b%d", time.Now().UnixNano())

	// 1. Through the Benthos clickhouse output: structured TelemetryEvent messages in batches of
	// o.Batch, routed by kind into host_metrics (default insert method); the old generic row
	// encoder first, then the typed one (so the new path meets the bigger table).
	if o.BenthosIO {
		// The old configuration (generic encoder, 2 in flight: every batch its own INSERT), the
		// generic encoder with the new in-flight default, and the new default (typed encoder +
		// group commit).
		paths := []struct {
			enc      string
			inFlight int
		}{{EncoderGeneric, 2}, {EncoderGeneric, o.InFlight}, {EncoderTyped, o.InFlight}}
		for i, p := range paths {
			if i == 1 && p.inFlight == 2 {
				continue
			}
			enc := p.enc
			prefix := fmt.Sprintf("%s-output-%s-%d", run, enc, p.inFlight)
			evs := BenchEventsOn(prefix, o.Rows, 1+i)
			batches := make([]service.MessageBatch, 0, o.Rows/o.Batch+1)
			for i := 0; i < len(evs); i += o.Batch {
				b := make(service.MessageBatch, 0, o.Batch)
				for _, ev := range evs[i:min(i+o.Batch, len(evs))] {
					b = append(b, envelope.NewEvent(ev))
				}
				batches = append(batches, b)
			}
			evs = nil
			name := fmt.Sprintf("benthos clickhouse output, row_encoder=%s, max_in_flight %d -> host_metrics", enc, p.inFlight)
			logf("%s: %d rows in batches of %d", name, o.Rows, o.Batch)
			g0, b0 := GroupStats()
			optimize := fmt.Sprintf("OPTIMIZE TABLE %s PARTITION '%s' FINAL", warehouse.TableHostMetrics, benchDay(1+i).Format(time.DateOnly))
			r, err := measure(ctx, w, name, o.Rows, optimize, func() error { return runOutputStream(ctx, o.DSN, o.Batch, p.inFlight, enc, batches) })
			if err != nil {
				return nil, err
			}
			if g1, b1 := GroupStats(); g1 > g0 {
				r.Name += fmt.Sprintf(" (%d INSERTs, %.1f batches each)", g1-g0, float64(b1-b0)/float64(g1-g0))
			}
			if err := checkCount(ctx, w, warehouse.TableHostMetrics, prefix, o.Rows); err != nil {
				return nil, fmt.Errorf("output: %w", err)
			}
			rep.Results = append(rep.Results, r)
		}
	}

	// 2. The insert methods side by side, same rows, each into its own copy of host_metrics,
	// and the default method into a ReplacingMergeTree copy (what the sample tables avoid).
	if o.OutputOnly {
		return rep, nil
	}
	if mi, ok := warehouse.Unwrap(w).(warehouse.MethodInserter); ok {
		type phase struct{ method, table, engine string }
		var phases []phase
		for _, m := range warehouse.InsertMethods {
			if o.SkipSlow && m == warehouse.InsertTSV {
				continue
			}
			phases = append(phases, phase{m, "bench_" + m, ""})
		}
		phases = append(phases, phase{warehouse.InsertRowBinaryFile, "bench_replacing",
			" ENGINE = ReplacingMergeTree PARTITION BY toDate(time) ORDER BY (host, name, time, id) SETTINGS non_replicated_deduplication_window = 1000"})
		for _, p := range phases {
			if err := w.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+p.table+" AS host_metrics"+p.engine); err != nil {
				return nil, err
			}
			evs := BenchEvents(run+"-"+p.table, o.Rows)
			rows := make([][]any, len(evs))
			for i, ev := range evs {
				_, rows[i], _ = warehouse.TelemetryRow(ev)
			}
			cols := warehouse.Columns(warehouse.TableHostMetrics)
			name := "chdb insert " + p.method + " -> " + p.table
			logf("%s: %d rows in batches of %d", name, o.Rows, o.Batch)
			r, err := measure(ctx, w, name, o.Rows, "OPTIMIZE TABLE "+p.table+" FINAL", func() error {
				for i := 0; i < len(rows); i += o.Batch {
					if err := mi.InsertWith(ctx, p.method, p.table, cols, rows[i:min(i+o.Batch, len(rows))]); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			if err := checkCount(ctx, w, p.table, run+"-"+p.table, o.Rows); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			rep.Results = append(rep.Results, r)
		}
	}

	// 3. A 1M-row aggregation, as `amoskys sql` runs it (rendered PrettyCompactMonoBlock).
	aggEvs := BenchEvents(run+"-agg", o.AggRows)
	rows := make([][]any, len(aggEvs))
	for i, ev := range aggEvs {
		_, rows[i], _ = warehouse.TelemetryRow(ev)
		rows[i][2] = "agg-" + rows[i][2].(string) // its own hosts: the table holds other runs' rows too
	}
	logf("loading %d rows for the aggregation", o.AggRows)
	for i := 0; i < len(rows); i += 100_000 {
		if err := w.Insert(ctx, warehouse.TableHostMetrics, warehouse.Columns(warehouse.TableHostMetrics), rows[i:min(i+100_000, len(rows))]); err != nil {
			return nil, err
		}
	}
	rep.AggRows = o.AggRows
	rep.AggQuery = "SELECT host, name, count() AS n, round(avg(value), 3) AS mean, quantile(0.99)(value) AS p99, max(time) AS last FROM host_metrics WHERE host LIKE 'agg-%' GROUP BY host, name ORDER BY host, name"
	for range o.AggRuns {
		t0 := time.Now()
		out, err := w.Query(ctx, rep.AggQuery, "PrettyCompactMonoBlock")
		if err != nil {
			return nil, err
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("aggregation returned nothing")
		}
		rep.AggRuns = append(rep.AggRuns, time.Since(t0))
	}
	s := append([]time.Duration(nil), rep.AggRuns...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rep.AggLatency = s[len(s)/2]
	return rep, nil
}

func runOutputStream(ctx context.Context, dsn string, batch, inFlight int, encoder string, batches []service.MessageBatch) error {
	sb := service.NewStreamBuilder()
	sb.SetLoggerYAML("level: warn")
	if err := sb.SetMetricsYAML("none: {}"); err != nil {
		return err
	}
	send, err := sb.AddBatchProducerFunc()
	if err != nil {
		return err
	}
	if err := sb.AddOutputYAML(fmt.Sprintf("clickhouse:\n  dsn: %q\n  row_encoder: %s\n  max_in_flight: %d\n  batching:\n    count: %d\n", dsn, encoder, inFlight, batch)); err != nil {
		return err
	}
	stream, err := sb.Build()
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- stream.Run(ctx) }()
	errs := make(chan error, len(batches))
	sem := make(chan struct{}, inFlight) // as many batches in flight as the output takes
	for i, b := range batches {
		batches[i] = nil // an acknowledged batch is garbage, as in a running pipeline
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- send(ctx, b)
		}()
	}
	for range cap(sem) {
		sem <- struct{}{}
	}
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	if err := stream.Stop(ctx); err != nil {
		return err
	}
	<-done
	return nil
}

// Format renders the report as a Markdown table.
func (r *BenchReport) Format() string {
	var b strings.Builder
	fmt.Fprintf(&b, "backend %s (%s), %d CPUs, load average at start %s\n\n", r.Backend, r.LibraryPath, r.CPUs, r.LoadAvg)
	fmt.Fprintf(&b, "| path | rows | wall | rows/s | CPU incl. merges | rows per CPU-second | CPU µs/row: %s / %s / %s / %s / %s |\n|---|---:|---:|---:|---:|---:|---|\n",
		GroupGo, GroupEngine, GroupMerge, GroupExited, GroupFinal)
	for _, x := range r.Results {
		us := func(g string) float64 { return float64(x.Split[g].Microseconds()) / float64(max(x.Rows, 1)) }
		fmt.Fprintf(&b, "| %s | %d | %s | %.0f | %s | %.0f | %.2f / %.2f / %.2f / %.2f / %.2f |\n", x.Name, x.Rows, x.Wall.Round(time.Millisecond), x.RowsPerSec,
			x.CPU.Round(time.Millisecond), x.RowsPerCPU, us(GroupGo), us(GroupEngine), us(GroupMerge), us(GroupExited), us(GroupFinal))
	}
	if len(r.AggRuns) == 0 {
		return b.String()
	}
	fmt.Fprintf(&b, "\naggregation over %d rows (median of %d): %s (runs: %v)\n  %s\n", r.AggRows, len(r.AggRuns), r.AggLatency.Round(time.Millisecond), roundAll(r.AggRuns), r.AggQuery)
	return b.String()
}

func roundAll(d []time.Duration) []time.Duration {
	out := make([]time.Duration, len(d))
	for i, x := range d {
		out[i] = x.Round(time.Millisecond)
	}
	return out
}

// settle waits (up to a minute) until no background merge runs.
func settle(ctx context.Context, w warehouse.Warehouse) {
	for range 600 {
		out, err := w.Query(ctx, "SELECT count() FROM system.merges", "TabSeparated")
		if err != nil || strings.TrimSpace(string(out)) == "0" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkCount verifies every row of a measurement landed (a benchmark that loses rows is wrong).
func checkCount(ctx context.Context, w warehouse.Warehouse, table, prefix string, want int) error {
	out, err := w.Query(ctx, "SELECT count() FROM "+table+" WHERE startsWith(id, "+warehouse.Quote(prefix+"-")+")", "TabSeparated")
	if err != nil {
		return err
	}
	if got := strings.TrimSpace(string(out)); got != fmt.Sprint(want) {
		return fmt.Errorf("%s rows stored, want %d", got, want)
	}
	return nil
}
