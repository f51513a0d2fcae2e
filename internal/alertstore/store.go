package alertstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/schemas"
)

// ErrNotFound says no alert has the id.
var ErrNotFound = errors.New("alert not found")

// Store is the API's view of alerts: the index for the recent ones, the warehouse (optional) for
// everything, the hub for live updates and lifecycle changes.
type Store struct {
	W     warehouse.Warehouse // nil: memory only (tests, a detector without warehouse)
	Index *Index
	Hub   *Hub
	mu    sync.Mutex // serialises status changes (read, bump version, write)
}

// NewStore returns a store over w (may be nil) with an index of capacity alerts, fed by hub.
func NewStore(w warehouse.Warehouse, capacity int, hub *Hub) *Store {
	if hub == nil {
		hub = Default
	}
	x := NewIndex(capacity)
	x.truncated = w != nil // until Warm says otherwise, older alerts may be in the warehouse
	return &Store{W: w, Index: x, Hub: hub}
}

// Warm loads the newest alerts of the warehouse into the index, in one query.
func (s *Store) Warm(ctx context.Context) error {
	if s.W == nil {
		return nil
	}
	f := &Filter{Limit: s.Index.cap + 1} // one more than fits tells whether the warehouse holds more
	rows, err := s.query(ctx, recentSQL(f))
	if err != nil {
		return err
	}
	for _, a := range rows {
		s.Index.Put(a)
	}
	s.Index.SetTruncated(len(rows) > s.Index.Len())
	return nil
}

// Attach feeds the index from the hub, synchronously inside every Publish, from now until the
// returned func is called.
func (s *Store) Attach() (detach func()) { return s.Hub.OnPublish(s.Index.Put) }

// Follow is Attach until ctx ends.
func (s *Store) Follow(ctx context.Context) {
	stop := s.Attach()
	<-ctx.Done()
	stop()
}

// Recent returns a page of alerts newest first and the cursor of the next page (nil at the end).
func (s *Store) Recent(ctx context.Context, f Filter) ([]json.RawMessage, *Cursor, error) {
	rows, next, _, err := s.RecentPage(ctx, f)
	return rows, next, err
}

// RecentPage is Recent that also says whether the warehouse answered part of the page (an answer
// from the index alone is valid as long as the index's generation does not change).
func (s *Store) RecentPage(ctx context.Context, f Filter) (rows []json.RawMessage, next *Cursor, usedWarehouse bool, err error) {
	if err := f.Validate(); err != nil {
		return nil, nil, false, err
	}
	page := s.Index.Recent(&f)
	out := make([]json.RawMessage, 0, len(page.Entries))
	var last *schemas.AlertEvent
	for _, e := range page.Entries {
		out = append(out, e.JSON)
		last = e.Alert
	}
	if page.Exhausted && s.W != nil {
		g := f
		g.Limit = f.Limit - len(out)
		if last != nil {
			g.Cursor = &Cursor{Time: last.Time, ID: last.ID}
		} else if o, ok := s.Index.Oldest(); ok && (g.Cursor == nil || o.Time.Before(g.Cursor.Time) || (o.Time.Equal(g.Cursor.Time) && o.ID < g.Cursor.ID)) {
			g.Cursor = &o
		}
		usedWarehouse = true
		rows, err := s.query(ctx, recentSQL(&g))
		if err != nil {
			return nil, nil, usedWarehouse, err
		}
		for _, a := range rows {
			b, err := json.Marshal(a)
			if err != nil {
				return nil, nil, usedWarehouse, err
			}
			out = append(out, b)
			last = a
		}
	}
	if len(out) < f.Limit || last == nil {
		return out, nil, usedWarehouse, nil
	}
	return out, &Cursor{Time: last.Time, ID: last.ID}, usedWarehouse, nil
}

// Get returns the current version of an alert.
func (s *Store) Get(ctx context.Context, id string) (*schemas.AlertEvent, error) {
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	if e, ok := s.Index.Get(id); ok {
		return e.Alert, nil
	}
	if s.W == nil {
		return nil, ErrNotFound
	}
	rows, err := s.query(ctx, getSQL(id))
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	return rows[0], nil
}

// SetStatus writes a new version of the alert with the status, who and when; the pipeline's later
// updates keep it (through the hub) and live streams see it.
func (s *Store) SetStatus(ctx context.Context, id string, status schemas.AlertStatus, by string, at time.Time) (*schemas.AlertEvent, error) {
	if !ValidStatus(status) {
		return nil, fmt.Errorf("status %q is not one of open, acknowledged, resolved", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	a := *cur
	a.Status, a.StatusBy = status, by
	t := at.UTC()
	a.StatusAt = &t
	a.Version = cur.Version + 1
	if s.W != nil {
		if err := warehouse.InsertAlerts(ctx, s.W, []*schemas.AlertEvent{&a}); err != nil {
			return nil, fmt.Errorf("writing alert %s: %w", id, err)
		}
	}
	s.Hub.StatusChanged(StatusChange{ID: id, Status: status, By: by, At: t, Version: a.Version})
	s.Index.Put(&a)
	s.Hub.Publish(&a)
	return &a, nil
}

// Evidence returns the stored events and feature vectors an alert names, each tagged with its
// table. Without a warehouse it returns none.
func (s *Store) Evidence(ctx context.Context, ids []string) ([]json.RawMessage, error) {
	if s.W == nil || len(ids) == 0 {
		return nil, nil
	}
	q := make([]string, 0, len(ids))
	for _, id := range ids {
		if ValidID(id) {
			q = append(q, Quote(id))
		}
	}
	if len(q) == 0 {
		return nil, nil
	}
	in := strings.Join(q, ", ")
	var out []json.RawMessage
	for _, table := range []string{"process_events", "process_samples", "connections", "host_metrics", "snmp_metrics", "devices", "features"} {
		b, err := s.W.Query(ctx, "SELECT "+Quote(table)+" AS table, * FROM "+table+" WHERE id IN ("+in+") LIMIT 64", "JSONEachRow")
		if err != nil {
			return out, fmt.Errorf("evidence from %s: %w", table, err)
		}
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			if len(line) > 0 {
				out = append(out, json.RawMessage(append([]byte(nil), line...)))
			}
		}
	}
	return out, nil
}

// Stats counts alerts by severity, host and layer, overall and per bucket of time.
type Stats struct {
	Since      time.Time        `json:"since"`
	Until      time.Time        `json:"until"`
	BucketSecs int64            `json:"bucket_seconds"`
	Total      int64            `json:"total"`
	BySeverity map[string]int64 `json:"by_severity"`
	ByHost     map[string]int64 `json:"by_host"`
	ByLayer    map[string]int64 `json:"by_layer"`
	Series     []StatsBucket    `json:"series"`
	Source     string           `json:"source"` // index | warehouse
}

// StatsBucket is one bucket of the series: counts by severity.
type StatsBucket struct {
	Start      time.Time        `json:"start"`
	BySeverity map[string]int64 `json:"by_severity"`
}

// Stats computes counts over [since, until) with buckets of bucket.
func (s *Store) Stats(ctx context.Context, since, until time.Time, bucket time.Duration) (*Stats, error) {
	return s.StatsHost(ctx, "", since, until, bucket)
}

// StatsHost is Stats over the alerts of one host (every host when host is empty). The host goes
// to the warehouse through the same Filter as /api/alerts/recent's (quoted, never spliced raw).
func (s *Store) StatsHost(ctx context.Context, host string, since, until time.Time, bucket time.Duration) (*Stats, error) {
	st := &Stats{Since: since.UTC(), Until: until.UTC(), BucketSecs: int64(bucket / time.Second),
		BySeverity: map[string]int64{}, ByHost: map[string]int64{}, ByLayer: map[string]int64{}}
	oldest, held := s.Index.Oldest()
	fromIndex := s.W == nil || !s.Index.Truncated() || (held && !since.Before(oldest.Time))
	if fromIndex {
		st.Source = "index"
		buckets := map[int64]map[string]int64{}
		for _, a := range s.Index.Snapshot(since, until) {
			if host != "" && a.Host != host {
				continue
			}
			st.Total++
			st.BySeverity[string(a.Severity)]++
			st.ByHost[a.Host]++
			for _, l := range a.Layers {
				if l.Score != nil {
					st.ByLayer[l.Layer]++
				}
			}
			b := a.Time.Unix() / st.BucketSecs * st.BucketSecs
			if buckets[b] == nil {
				buckets[b] = map[string]int64{}
			}
			buckets[b][string(a.Severity)]++
		}
		keys := make([]int64, 0, len(buckets))
		for k := range buckets {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		for _, k := range keys {
			st.Series = append(st.Series, StatsBucket{Start: time.Unix(k, 0).UTC(), BySeverity: buckets[k]})
		}
		return st, nil
	}
	st.Source = "warehouse"
	f := Filter{Limit: 1, Since: since, Until: until, Host: host}
	base := "FROM alerts FINAL WHERE " + f.where()
	type kv struct {
		K string `json:"k"`
		B int64  `json:"b"`
		N int64  `json:"n"`
	}
	run := func(q string) ([]kv, error) {
		b, err := s.W.Query(ctx, q+" SETTINGS output_format_json_quote_64bit_integers = 0", "JSONEachRow")
		if err != nil {
			return nil, err
		}
		var out []kv
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var r kv
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, sc.Err()
	}
	bs := strconv.FormatInt(st.BucketSecs, 10)
	series, err := run("SELECT severity AS k, intDiv(toUnixTimestamp(time), " + bs + ") * " + bs + " AS b, count() AS n " + base + " GROUP BY k, b ORDER BY b")
	if err != nil {
		return nil, err
	}
	idx := map[int64]int{}
	for _, r := range series {
		st.Total += r.N
		st.BySeverity[r.K] += r.N
		i, ok := idx[r.B]
		if !ok {
			i = len(st.Series)
			idx[r.B] = i
			st.Series = append(st.Series, StatsBucket{Start: time.Unix(r.B, 0).UTC(), BySeverity: map[string]int64{}})
		}
		st.Series[i].BySeverity[r.K] += r.N
	}
	hosts, err := run("SELECT host AS k, 0 AS b, count() AS n " + base + " GROUP BY k ORDER BY n DESC LIMIT 100")
	if err != nil {
		return nil, err
	}
	for _, r := range hosts {
		st.ByHost[r.K] = r.N
	}
	layers, err := run("SELECT l.1 AS k, 0 AS b, count() AS n FROM alerts FINAL ARRAY JOIN arrayZip(layer_names, layer_scores) AS l WHERE " +
		f.where() + " AND l.2 IS NOT NULL GROUP BY k")
	if err != nil {
		return nil, err
	}
	for _, r := range layers {
		st.ByLayer[r.K] = r.N
	}
	return st, nil
}

// row is one alerts row as alertColumns selects it in JSONEachRow.
type row struct {
	ID         string   `json:"id"`
	Version    uint64   `json:"version"`
	TimeUS     int64    `json:"time_us"`
	Host       string   `json:"host"`
	EntityKind string   `json:"entity_kind"`
	Entity     string   `json:"entity"`
	EntityKey  string   `json:"entity_key"`
	Title      string   `json:"title"`
	Summary    string   `json:"summary"`
	Severity   string   `json:"severity"`
	Score      float64  `json:"score"`
	Layers     string   `json:"layers"`
	Tags       []string `json:"tags"`
	Evidence   []string `json:"evidence_ids"`
	Count      int64    `json:"count"`
	FirstUS    int64    `json:"first_us"`
	LastUS     int64    `json:"last_us"`
	Status     string   `json:"status"`
	StatusBy   string   `json:"status_by"`
	StatusUS   int64    `json:"status_us"`
	History    string   `json:"history"`
	Cause      string   `json:"cause"`
	RunID      string   `json:"run_id"`
}

func (s *Store) query(ctx context.Context, q string) ([]*schemas.AlertEvent, error) {
	b, err := s.W.Query(ctx, q, "JSONEachRow")
	if err != nil {
		return nil, fmt.Errorf("querying alerts: %w", err)
	}
	var out []*schemas.AlertEvent
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("decoding alert row: %w", err)
		}
		a := &schemas.AlertEvent{SchemaVersion: schemas.AlertVersion, ID: r.ID, Version: r.Version,
			Time: time.UnixMicro(r.TimeUS).UTC(), Host: r.Host, EntityKind: r.EntityKind, Entity: r.Entity,
			EntityKey: r.EntityKey, Title: r.Title, Summary: r.Summary, Severity: schemas.Severity(r.Severity),
			Score: r.Score, Tags: r.Tags, EvidenceIDs: r.Evidence, Count: r.Count,
			FirstSeen: time.UnixMicro(r.FirstUS).UTC(), LastSeen: time.UnixMicro(r.LastUS).UTC(),
			Status: schemas.AlertStatus(r.Status), StatusBy: r.StatusBy, Cause: r.Cause, RunID: r.RunID}
		if r.StatusUS != 0 {
			t := time.UnixMicro(r.StatusUS).UTC()
			a.StatusAt = &t
		}
		if r.Layers != "" {
			if err := json.Unmarshal([]byte(r.Layers), &a.Layers); err != nil {
				return nil, fmt.Errorf("decoding layers of %s: %w", r.ID, err)
			}
		}
		if r.History != "" {
			if err := json.Unmarshal([]byte(r.History), &a.History); err != nil {
				return nil, fmt.Errorf("decoding history of %s: %w", r.ID, err)
			}
		}
		out = append(out, a)
	}
	return out, sc.Err()
}

// After returns up to limit alerts strictly newer than c, oldest first: what a live stream missed.
func (s *Store) After(ctx context.Context, c Cursor, limit int) ([]*schemas.AlertEvent, error) {
	oldest, held := s.Index.Oldest()
	inIndex := !s.Index.Truncated() || (held && (c.Time.After(oldest.Time) || (c.Time.Equal(oldest.Time) && c.ID >= oldest.ID)))
	if inIndex || s.W == nil {
		entries := s.Index.After(c, limit)
		out := make([]*schemas.AlertEvent, len(entries))
		for i, e := range entries {
			out[i] = e.Alert
		}
		return out, nil
	}
	if !ValidID(c.ID) || limit < 1 {
		return nil, ErrBadCursor
	}
	return s.query(ctx, "SELECT "+alertColumns+" FROM alerts FINAL WHERE run_id = '' AND (time, id) > ("+
		formatTime(c.Time)+", "+Quote(c.ID)+") ORDER BY time ASC, id ASC LIMIT "+strconv.Itoa(limit)+
		" SETTINGS output_format_json_quote_64bit_integers = 0")
}
