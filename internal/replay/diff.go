package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/schemas"
)

// Key matches an alert across runs: host, entity, title and cause (the reason ids).
type Key struct {
	Host, Entity, Title, Cause string
}

func (k Key) String() string {
	s := k.Host + "  " + k.Entity + "  " + k.Title
	if k.Cause != "" {
		s += "  [" + k.Cause + "]"
	}
	return s
}

// Summary is one alert as a diff sees it.
type Summary struct {
	Key      Key
	Score    float64
	Severity schemas.Severity
	Count    int64
}

// Change is an alert present on both sides with another score or severity.
type Change struct {
	Key        Key
	Before     Summary
	After      Summary
	ScoreDelta float64
}

// Diff is what a run adds, removes and re-scores against a baseline.
type Diff struct {
	Baseline  string // "live" or a run id
	Added     []Summary
	Removed   []Summary
	Rescored  []Change
	Unchanged int
}

// Summaries turns alerts into diff summaries, merging alerts with the same key (highest score).
func Summaries(alerts []*schemas.AlertEvent) map[Key]Summary {
	out := map[Key]Summary{}
	for _, a := range alerts {
		add(out, Summary{Key: Key{a.Host, a.Entity, a.Title, a.Cause}, Score: a.Score, Severity: a.Severity, Count: a.Count})
	}
	return out
}

func add(m map[Key]Summary, s Summary) {
	prev, ok := m[s.Key]
	if !ok {
		m[s.Key] = s
		return
	}
	if s.Score > prev.Score || (s.Score == prev.Score && s.Severity.Rank() > prev.Severity.Rank()) {
		s.Count += prev.Count
		m[s.Key] = s
		return
	}
	prev.Count += s.Count
	m[s.Key] = prev
}

// scoreEps is the smallest score difference a diff reports.
const scoreEps = 1e-9

// Compare diffs after against before.
func Compare(baseline string, before, after map[Key]Summary) *Diff {
	d := &Diff{Baseline: baseline}
	for k, a := range after {
		b, ok := before[k]
		switch {
		case !ok:
			d.Added = append(d.Added, a)
		case math.Abs(a.Score-b.Score) > scoreEps || a.Severity != b.Severity:
			d.Rescored = append(d.Rescored, Change{Key: k, Before: b, After: a, ScoreDelta: a.Score - b.Score})
		default:
			d.Unchanged++
		}
	}
	for k, b := range before {
		if _, ok := after[k]; !ok {
			d.Removed = append(d.Removed, b)
		}
	}
	byKey := func(s []Summary) {
		sort.Slice(s, func(i, j int) bool { return keyLess(s[i].Key, s[j].Key) })
	}
	byKey(d.Added)
	byKey(d.Removed)
	sort.Slice(d.Rescored, func(i, j int) bool { return keyLess(d.Rescored[i].Key, d.Rescored[j].Key) })
	return d
}

func keyLess(a, b Key) bool {
	if a.Host != b.Host {
		return a.Host < b.Host
	}
	if a.Entity != b.Entity {
		return a.Entity < b.Entity
	}
	if a.Title != b.Title {
		return a.Title < b.Title
	}
	return a.Cause < b.Cause
}

// Print writes d for a person: one line per added (+), removed (-) and re-scored (~) alert.
func (d *Diff) Print(w io.Writer, run string) {
	fmt.Fprintf(w, "replay %s vs %s: %d added, %d removed, %d re-scored, %d unchanged\n",
		run, d.Baseline, len(d.Added), len(d.Removed), len(d.Rescored), d.Unchanged)
	for _, s := range d.Added {
		fmt.Fprintf(w, "+ %s  score %.3f %s\n", s.Key, s.Score, s.Severity)
	}
	for _, s := range d.Removed {
		fmt.Fprintf(w, "- %s  score %.3f %s\n", s.Key, s.Score, s.Severity)
	}
	for _, c := range d.Rescored {
		fmt.Fprintf(w, "~ %s  score %.3f %s -> %.3f %s (%+.3f)\n", c.Key, c.Before.Score, c.Before.Severity,
			c.After.Score, c.After.Severity, c.ScoreDelta)
	}
}

// alertRow is what a diff reads of an alert row.
type alertRow struct {
	Host     string  `json:"host"`
	Entity   string  `json:"entity"`
	Title    string  `json:"title"`
	Cause    string  `json:"cause"`
	Score    float64 `json:"score"`
	Severity string  `json:"severity"`
	Count    int64   `json:"count"`
}

// LiveAlerts reads the live alerts first seen in [from, to) on hosts (all when empty).
func LiveAlerts(ctx context.Context, w warehouse.Warehouse, from, to time.Time, hosts []string) (map[Key]Summary, error) {
	return readAlerts(ctx, w, warehouse.TableAlerts, window(from, to, hosts))
}

// RunAlerts reads the alerts of replay run runID.
func RunAlerts(ctx context.Context, w warehouse.Warehouse, runID string) (map[Key]Summary, error) {
	return readAlerts(ctx, w, warehouse.TableAlertsReplay, []string{"run_id = " + warehouse.Quote(runID)})
}

func window(from, to time.Time, hosts []string) []string {
	var where []string
	lit := func(t time.Time) string {
		return "toDateTime64(" + warehouse.Quote(t.UTC().Format("2006-01-02 15:04:05.999999999")) + ", 9, 'UTC')"
	}
	if !from.IsZero() {
		where = append(where, "first_seen >= "+lit(from))
	}
	if !to.IsZero() {
		where = append(where, "first_seen < "+lit(to))
	}
	if len(hosts) > 0 {
		q := make([]string, len(hosts))
		for i, h := range hosts {
			q[i] = warehouse.Quote(h)
		}
		where = append(where, "host IN ("+strings.Join(q, ", ")+")")
	}
	return where
}

func readAlerts(ctx context.Context, w warehouse.Warehouse, table string, where []string) (map[Key]Summary, error) {
	q := "SELECT host, entity, title, cause, score, toString(severity) AS severity, count FROM `" + table + "` FINAL"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " SETTINGS output_format_json_quote_64bit_integers = 0"
	out, err := w.Query(ctx, q, "JSONEachRow")
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", table, err)
	}
	m := map[Key]Summary{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r alertRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("decoding %s row: %w", table, err)
		}
		add(m, Summary{Key: Key{r.Host, r.Entity, r.Title, r.Cause}, Score: r.Score, Severity: schemas.Severity(r.Severity), Count: r.Count})
	}
	return m, sc.Err()
}
