package replay

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/amoskys/amoskys/schemas"
)

// Partitioned replay: with Options.Workers > 1 the events are split by host over that many
// copies of the pipeline, run side by side, as a detector consumes the bus partitioned by host.
// Every stage keeps its state per host (windows, baselines, process trees, alert history), so a
// host's events meet the same state in the same order whichever copy runs them. What a copy
// shares with no other is its caps (window.max_keys, temporal's series and program limits): when
// the data reach a cap, which keys it evicts depends on the hosts in that copy, so a partitioned
// replay can then differ from a single one. `amoskys replay` keeps one copy unless --workers asks
// for more.

// partitionOf places host in one of n partitions (FNV-1a of the name).
func partitionOf(host string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(host); i++ {
		h ^= uint32(host[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

// splitter reads a source once and deals its events, in order, to n partition sources.
type splitter struct {
	src   Source
	chans []chan []*schemas.TelemetryEvent
	// Written before the channels close, read after: the latest event time (the range's end when
	// To is not set, the same for every copy) and the source's error.
	last time.Time
	err  error
}

func newSplitter(src Source, n int) *splitter {
	s := &splitter{src: src, chans: make([]chan []*schemas.TelemetryEvent, n)}
	for i := range s.chans {
		s.chans[i] = make(chan []*schemas.TelemetryEvent, 4)
	}
	return s
}

func (s *splitter) run(ctx context.Context, batch int) {
	defer func() {
		for _, c := range s.chans {
			close(c)
		}
	}()
	bufs := make([][]*schemas.TelemetryEvent, len(s.chans))
	send := func(p int) bool {
		select {
		case s.chans[p] <- bufs[p]:
			bufs[p] = nil
			return true
		case <-ctx.Done():
			s.err = ctx.Err()
			return false
		}
	}
	for {
		evs, err := s.src.Next(ctx, batch)
		if err != nil {
			s.err = err
			return
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			if ev.Time.After(s.last) {
				s.last = ev.Time
			}
			p := partitionOf(ev.Host, len(s.chans))
			if bufs[p] == nil {
				bufs[p] = make([]*schemas.TelemetryEvent, 0, batch)
			}
			bufs[p] = append(bufs[p], ev)
			if len(bufs[p]) >= batch && !send(p) {
				return
			}
		}
	}
	for p := range bufs {
		if len(bufs[p]) > 0 && !send(p) {
			return
		}
	}
}

// partSource is one partition's events, in the source's order.
type partSource struct {
	sp      *splitter
	ch      chan []*schemas.TelemetryEvent
	pending []*schemas.TelemetryEvent
}

func (p *partSource) Next(ctx context.Context, n int) ([]*schemas.TelemetryEvent, error) {
	if len(p.pending) == 0 {
		select {
		case b, ok := <-p.ch:
			if !ok {
				return nil, p.sp.err
			}
			p.pending = b
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	k := min(n, len(p.pending))
	out := p.pending[:k]
	p.pending = p.pending[k:]
	return out, nil
}

func (p *partSource) Total() int64 { return -1 }

// runPartitioned runs opts.Workers copies of the pipeline over src split by host and merges
// what they produced: alerts (sorted by host, id, as one copy sorts them), events and vectors.
func runPartitioned(ctx context.Context, opts Options, src Source) (*Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := opts.Workers
	sp := newSplitter(src, n)
	bar := newBar(opts, src.Total())
	t0 := time.Now()
	go sp.run(ctx, opts.BatchSize)
	results := make([]*Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ps := &partSource{sp: sp, ch: sp.chans[i]}
			results[i], errs[i] = run(ctx, opts, ps, bar, func() time.Time { return sp.last })
			if errs[i] != nil {
				cancel() // one copy failed: stop the others and the splitter
			}
		}()
	}
	wg.Wait()
	// The copy that failed first is the cause; the others may only report the cancellation.
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	res := &Result{RunID: opts.RunID, Pipeline: opts.Pipeline, Elapsed: time.Since(t0)}
	for _, r := range results {
		res.Events += r.Events
		res.Features += r.Features
		res.Alerts = append(res.Alerts, r.Alerts...)
	}
	sort.Slice(res.Alerts, func(i, j int) bool {
		if res.Alerts[i].Host != res.Alerts[j].Host {
			return res.Alerts[i].Host < res.Alerts[j].Host
		}
		return res.Alerts[i].ID < res.Alerts[j].ID
	})
	if bar != nil {
		_ = bar.Finish()
	}
	return res, nil
}

// newBar is the replay's progress bar (nil without opts.Progress); total -1 when unknown.
func newBar(opts Options, total int64) *progressbar.ProgressBar {
	if opts.Progress == nil {
		return nil
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(opts.Progress),
		progressbar.OptionSetDescription("replay "+opts.RunID),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("events"),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}
