package replay

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/amoskys/amoskys/plugins/clickhouse"
	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/schemas"
)

// Source yields stored telemetry in event-time order, (time, id) ascending, in batches.
type Source interface {
	// Next returns up to n events; an empty slice means the end.
	Next(ctx context.Context, n int) ([]*schemas.TelemetryEvent, error)
	// Total is the number of events the source will yield, or -1 when unknown.
	Total() int64
}

// less orders events by event time, then id: a total order whatever the storage order.
func less(a, b *schemas.TelemetryEvent) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	return a.ID < b.ID
}

// sliceSource serves events held in memory.
type sliceSource struct {
	evs []*schemas.TelemetryEvent
	pos int
}

func (s *sliceSource) Next(_ context.Context, n int) ([]*schemas.TelemetryEvent, error) {
	end := min(s.pos+n, len(s.evs))
	out := s.evs[s.pos:end]
	s.pos = end
	return out, nil
}

func (s *sliceSource) Total() int64 { return int64(len(s.evs)) }

// JSONLSource reads TelemetryEvent JSON lines from files, keeps those in [from, to) on hosts (all
// when empty), and serves them sorted by (time, id). Unreadable lines are errors with their place.
func JSONLSource(files []string, from, to time.Time, hosts []string) (Source, error) {
	keep := hostSet(hosts)
	var evs []*schemas.TelemetryEvent
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for line := 1; sc.Scan(); line++ {
			b := sc.Bytes()
			if len(strings.TrimSpace(string(b))) == 0 {
				continue
			}
			ev := &schemas.TelemetryEvent{}
			if err := json.Unmarshal(b, ev); err != nil {
				_ = fh.Close()
				return nil, fmt.Errorf("%s:%d: %w", f, line, err)
			}
			if inRange(ev, from, to, keep) {
				evs = append(evs, ev)
			}
		}
		err = sc.Err()
		_ = fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return less(evs[i], evs[j]) })
	return &sliceSource{evs: evs}, nil
}

func hostSet(hosts []string) map[string]bool {
	if len(hosts) == 0 {
		return nil
	}
	m := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		m[h] = true
	}
	return m
}

func inRange(ev *schemas.TelemetryEvent, from, to time.Time, hosts map[string]bool) bool {
	if !from.IsZero() && ev.Time.Before(from) {
		return false
	}
	if !to.IsZero() && !ev.Time.Before(to) {
		return false
	}
	return hosts == nil || hosts[ev.Host]
}

// warehouseSource is the clickhouse input's Reader (every telemetry table paged by its (time, id)
// cursor and merged into one event-time ordered stream), handed out n events at a time.
type warehouseSource struct {
	r       *clickhouse.Reader
	pending []*schemas.TelemetryEvent
	eof     bool
	total   int64
}

// WarehouseSource reads the telemetry tables of w between from and to for hosts (all when empty).
func WarehouseSource(ctx context.Context, w warehouse.Warehouse, from, to time.Time, hosts []string) (Source, error) {
	s := &warehouseSource{r: &clickhouse.Reader{W: w, From: from, To: to, Hosts: hosts, BatchSize: 20000}}
	var total int64
	for _, t := range warehouse.TelemetryTables {
		q, err := warehouse.TelemetryQuery(t, from, to, hosts, time.Time{}, "", 0)
		if err != nil {
			return nil, err
		}
		// Count with the same filter: wrap the query rather than rebuild its WHERE.
		out, err := w.Query(ctx, "SELECT count() AS n FROM ("+stripSettings(q)+")", "TabSeparated")
		if err != nil {
			return nil, fmt.Errorf("counting %s: %w", t, err)
		}
		var n int64
		if _, err := fmt.Sscan(strings.TrimSpace(string(out)), &n); err != nil {
			return nil, fmt.Errorf("counting %s: %q: %w", t, out, err)
		}
		total += n
	}
	s.total = total
	return s, nil
}

func stripSettings(q string) string {
	if i := strings.LastIndex(q, " SETTINGS "); i >= 0 {
		return q[:i]
	}
	return q
}

func (s *warehouseSource) Total() int64 { return s.total }

func (s *warehouseSource) Next(ctx context.Context, n int) ([]*schemas.TelemetryEvent, error) {
	out := make([]*schemas.TelemetryEvent, 0, n)
	for len(out) < n {
		if len(s.pending) == 0 {
			if s.eof {
				break
			}
			evs, err := s.r.Next(ctx)
			if errors.Is(err, io.EOF) {
				s.eof = true
				break
			}
			if err != nil {
				return nil, err
			}
			s.pending = evs
		}
		k := min(n-len(out), len(s.pending))
		out = append(out, s.pending[:k]...)
		s.pending = s.pending[k:]
	}
	return out, nil
}
