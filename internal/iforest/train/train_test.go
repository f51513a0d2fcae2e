package train

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/clickhouse"
	"github.com/amoskys/amoskys/internal/iforest"
	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/processors/window"
	"github.com/amoskys/amoskys/schemas"
)

var day = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

// vectors makes n one-minute host vectors with the window stage's host features; every 50th is
// an outlier (four features far up), labelled in the returned map.
func vectors(n int) ([]*schemas.FeatureVector, map[string]bool) {
	r := rand.New(rand.NewPCG(5, 5))
	names := window.FeatureNames(window.KindHost)
	labels := map[string]bool{}
	var list []*schemas.FeatureVector
	for i := range n {
		vals := make([]float64, len(names))
		for j := range vals {
			vals[j] = float64(j) + r.NormFloat64()
		}
		fv := &schemas.FeatureVector{SchemaVersion: 1, ID: fmt.Sprintf("fv-%05d", i), Host: "web-1", KeyKind: window.KindHost,
			Key: "host", Entity: "web-1", Window: "1m", Start: day.Add(time.Duration(i) * time.Minute),
			End: day.Add(time.Duration(i+1) * time.Minute), Names: names, Values: vals}
		if i%50 == 7 {
			for _, j := range []int{0, 3, 7, 13} {
				vals[j] += 8
			}
			labels[fv.ID] = true
		} else {
			labels[fv.ID] = false
		}
		list = append(list, fv)
	}
	return list, labels
}

type memSource []*schemas.FeatureVector

func (m memSource) match(q Query, fv *schemas.FeatureVector) bool {
	return !fv.Start.Before(q.From) && fv.Start.Before(q.To) && fv.KeyKind == q.KeyKind && fv.Window == q.Window
}

func (m memSource) Count(_ context.Context, q Query) (int, error) {
	n := 0
	for _, fv := range m {
		if m.match(q, fv) {
			n++
		}
	}
	return n, nil
}

func (m memSource) Each(_ context.Context, q Query, fn func(*schemas.FeatureVector) error) error {
	for _, fv := range m {
		if m.match(q, fv) {
			if err := fn(fv); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeLabels(t *testing.T, labels map[string]bool) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,label\n")
	for id, l := range labels {
		v := 0
		if l {
			v = 1
		}
		fmt.Fprintf(&b, "%s,%d\n", id, v)
	}
	p := filepath.Join(t.TempDir(), "labels.csv")
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o644))
	return p
}

func opts(t *testing.T, labels string) Options {
	p := iforest.DefaultParams()
	p.Contamination = 0.02
	return Options{Query: Query{From: day, To: day.Add(24 * time.Hour), KeyKind: "host", Window: "1m"},
		Labels: labels, Output: filepath.Join(t.TempDir(), "models", "host-day"), Params: p,
		Now: func() time.Time { return day.Add(25 * time.Hour) }}
}

func TestRunFromMemoryWithLabels(t *testing.T) {
	vs, labels := vectors(1000)
	// A vector without every feature is skipped, and said so.
	short := *vs[3]
	short.ID, short.Names, short.Values = "short", short.Names[:5], short.Values[:5]
	vs = append(vs, &short)
	o := opts(t, writeLabels(t, labels))
	rep, err := Run(t.Context(), memSource(vs), o)
	require.NoError(t, err)
	require.Equal(t, 1001, rep.Read)
	require.Equal(t, 1000, rep.Used)
	require.Equal(t, map[string]int{"missing feature " + window.FeatureNames("host")[5]: 1}, rep.Skipped)
	require.Equal(t, 20, rep.Outliers)
	require.NotNil(t, rep.CV)
	require.Greater(t, rep.CV.ROCAUC, 0.95)
	require.Greater(t, rep.CV.PrecisionAtK, 0.8)
	require.Equal(t, 20, rep.CV.K)

	m, err := iforest.LoadFile(o.Output, iforest.Expect{Features: window.FeatureNames("host"), KeyKind: "host"})
	require.NoError(t, err)
	require.Equal(t, "host-day", m.Name)
	require.Equal(t, day, m.Training.From)
	require.Equal(t, day.Add(24*time.Hour), m.Training.To)
	require.Equal(t, 1000, m.Training.Rows)
	require.InDelta(t, rep.CV.ROCAUC, m.Training.Metrics["cv_roc_auc"], 1e-12)
	var sb strings.Builder
	rep.Print(&sb)
	require.Contains(t, sb.String(), "5-fold cross-validation over 1000 labelled vectors (20 outliers)")

	// Same data, same seed: the same model, byte for byte.
	o2 := o
	o2.Output = filepath.Join(t.TempDir(), "again.json")
	o2.Name = "host-day"
	_, err = Run(t.Context(), memSource(vs), o2)
	require.NoError(t, err)
	a, _ := os.ReadFile(o.Output)
	b, _ := os.ReadFile(o2.Output)
	require.Equal(t, a, b)
}

func TestRunRefuses(t *testing.T) {
	vs, _ := vectors(10)
	_, err := Run(t.Context(), memSource(vs), opts(t, ""))
	require.ErrorIs(t, err, ErrTooFewRows)
	o := opts(t, "")
	o.To = o.From
	_, err = Run(t.Context(), memSource(vs), o)
	require.ErrorContains(t, err, "is not before")
	o = opts(t, "")
	o.FeatureSet = "cpu.user,gpu.temp"
	_, err = Run(t.Context(), memSource(vs), o)
	require.ErrorContains(t, err, `"gpu.temp" is not a host feature`)
}

func TestFeaturesAndLabels(t *testing.T) {
	f, err := Features("", "process")
	require.NoError(t, err)
	require.Equal(t, window.FeatureNames("process"), f)
	f, err = Features("cpu.user, load1", "host")
	require.NoError(t, err)
	require.Equal(t, []string{"cpu.user", "load1"}, f)
	_, err = Features("process", "host")
	require.Error(t, err)
	l, err := ReadLabels(strings.NewReader("label,id\n1,a\nfalse,b\n"))
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"a": true, "b": false}, l)
	_, err = ReadLabels(strings.NewReader("id,label\na,maybe\n"))
	require.ErrorContains(t, err, "line 2")
	_, err = ReadLabels(strings.NewReader("name,value\n"))
	require.ErrorContains(t, err, "id and label")
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-11-25T10:00:00Z": time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		"2026-11-25":           time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
		"now":                  now,
		"24h":                  now.Add(-24 * time.Hour),
	} {
		got, err := ParseTime(in, now)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := ParseTime("yesterday", now)
	require.Error(t, err)
}

// End to end on the embedded warehouse: vectors inserted into the features table, read back by
// the trainer, fitted and saved.
func TestRunFromCHDB(t *testing.T) {
	dir := t.TempDir()
	w, err := warehouse.Open(t.Context(), "chdb://"+dir)
	if errors.Is(err, warehouse.ErrLibraryMissing) && os.Getenv("AMOSKYS_REQUIRE_DEPS") != "1" {
		t.Skipf("libchdb absent (set AMOSKYS_LIBCHDB or run `make libchdb`): %v", err)
	}
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, warehouse.Migrate(t.Context(), w, clickhouse.Migrations(), warehouse.WithRetentionDays(3650)))
	vs, labels := vectors(600)
	// Another window length and another key kind in the table: not selected.
	other := *vs[0]
	other.ID, other.Window = "other-window", "5m/1m"
	proc := *vs[1]
	proc.ID, proc.KeyKind = "other-kind", "process"
	require.NoError(t, warehouse.InsertFeatures(t.Context(), w, append(vs, &other, &proc)))

	o := opts(t, writeLabels(t, labels))
	rep, err := Run(t.Context(), WarehouseSource{W: w, PageSize: 250}, o)
	require.NoError(t, err)
	require.Equal(t, 600, rep.Read)
	require.Equal(t, 600, rep.Used)
	require.Greater(t, rep.CV.ROCAUC, 0.95)

	// The warehouse gives back exactly what memory would have: same data hash, same model.
	mem, err := Run(t.Context(), memSource(vs), Options{Query: o.Query, Params: o.Params, Now: o.Now, Name: rep.Model.Name})
	require.NoError(t, err)
	require.Equal(t, mem.Model.Training.DataSHA256, rep.Model.Training.DataSHA256)
	m, err := iforest.LoadFile(o.Output, iforest.Expect{KeyKind: "host"})
	require.NoError(t, err)
	require.Equal(t, 600, m.Training.Rows)
}
