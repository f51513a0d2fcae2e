package iforest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var testNames = []string{"cpu", "rss", "fds", "conns"}

func trainSmall(t testing.TB, normalise string) *Model {
	t.Helper()
	X := gaussian(1500, 4, 9)
	p := DefaultParams()
	p.Trees = 20
	p.SampleSize = 128
	p.Contamination = 0.01
	m, err := Train(testNames, X, TrainOptions{Params: p, Normalise: normalise, Name: "test", KeyKind: "process",
		From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
		Created: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	return m
}

func TestModelRoundTrip(t *testing.T) {
	for _, norm := range []string{"none", "robust"} {
		t.Run(norm, func(t *testing.T) {
			m := trainSmall(t, norm)
			path := filepath.Join(t.TempDir(), "m.json")
			require.NoError(t, m.Save(path))
			got, err := LoadFile(path, Expect{Features: testNames, KeyKind: "process"})
			require.NoError(t, err)
			require.Equal(t, m.Training, got.Training)
			require.Equal(t, m.Threshold, got.Threshold)
			require.Equal(t, norm, got.Normalisation.Method)
			X := gaussian(200, 4, 10)
			for i := range X.Rows {
				require.Equal(t, m.Score(X.Row(i)), got.Score(X.Row(i)))
			}
			require.Len(t, got.Training.DataSHA256, 64)
			require.Equal(t, "2026-11-01T00:00:00Z", got.Training.From.Format(time.RFC3339))
		})
	}
}

func TestRobustNormalisationDoesNotChangeRanking(t *testing.T) {
	// Isolation is invariant under per-feature affine maps, so both models rank rows alike.
	a, b := trainSmall(t, "none"), trainSmall(t, "robust")
	X := gaussian(300, 4, 11)
	var sa, sb []float64
	for i := range X.Rows {
		sa = append(sa, a.Score(X.Row(i)))
		sb = append(sb, b.Score(X.Row(i)))
	}
	labels := make([]bool, len(sa))
	// Top 10% by model a as "outliers": model b should agree on nearly all of them.
	th := ThresholdFor(sa, 0.1)
	for i, v := range sa {
		labels[i] = v >= th
	}
	require.Greater(t, ROCAUC(sb, labels), 0.9)
}

func TestExplainNamesThePerturbedFeature(t *testing.T) {
	m := trainSmall(t, "none")
	x := []float64{0, 0, 9, 0}
	e := m.Explain(x)
	require.Equal(t, "fds", e.Features[0].Name)
	require.Equal(t, 9.0, e.Features[0].Value)
	require.InDelta(t, 0, e.Features[0].Median, 0.15, "median of a standard normal")
	require.Greater(t, e.Score, m.ScoreMedian)
	far := m.Explain([]float64{-6, 6, 9, -6})
	require.True(t, far.Outlier)
	require.Greater(t, far.Calibrated, 0.5)
	n := m.Explain([]float64{0, 0, 0, 0})
	require.False(t, n.Outlier)
	require.Less(t, n.Calibrated, 0.5)
}

func TestCalibrate(t *testing.T) {
	m := &Model{ScoreMedian: 0.4, Threshold: 0.6}
	require.Equal(t, 0.0, m.Calibrate(0.3))
	require.InDelta(t, 0.25, m.Calibrate(0.5), 1e-12)
	require.Equal(t, 0.5, m.Calibrate(0.6))
	require.Equal(t, 1.0, m.Calibrate(1))
}

// edit decodes a saved model as generic JSON, changes it, and re-encodes it (optionally
// recomputing the checksum so the structural checks are reached).
func edit(t *testing.T, m *Model, fix bool, f func(map[string]any)) []byte {
	t.Helper()
	b, err := m.Marshal()
	require.NoError(t, err)
	var g map[string]any
	require.NoError(t, json.Unmarshal(b, &g))
	f(g)
	b, err = json.Marshal(g)
	require.NoError(t, err)
	if !fix {
		return b
	}
	var mm Model
	require.NoError(t, json.Unmarshal(b, &mm))
	b, err = mm.Marshal()
	require.NoError(t, err)
	return b
}

func TestLoadRefusesBadFiles(t *testing.T) {
	m := trainSmall(t, "none")
	good, err := m.Marshal()
	require.NoError(t, err)
	tree0 := func(g map[string]any) map[string]any { return g["trees"].([]any)[0].(map[string]any) }
	cases := []struct {
		name string
		data []byte
		want Expect
		err  error
		msg  string
	}{
		{"empty", nil, Expect{}, ErrCorrupt, "empty file"},
		{"truncated", good[:len(good)/2], Expect{}, ErrCorrupt, "truncated"},
		{"not json", []byte("hello"), Expect{}, ErrCorrupt, ""},
		{"other json", []byte(`{"a":1}`), Expect{}, ErrNotModel, "format"},
		{"newer version", edit(t, m, false, func(g map[string]any) { g["format_version"] = 2 }), Expect{}, ErrVersion, "version 2"},
		{"edited threshold", edit(t, m, false, func(g map[string]any) { g["threshold"] = 0.9 }), Expect{}, ErrChecksum, "edited or damaged"},
		{"no checksum", edit(t, m, false, func(g map[string]any) { delete(g, "checksum") }), Expect{}, ErrChecksum, "no checksum"},
		{"wrong features", good, Expect{Features: []string{"cpu", "rss", "fds", "threads"}}, ErrFeatures, "model needs conns that the input lacks; input has threads"},
		{"reordered features", good, Expect{Features: []string{"rss", "cpu", "fds", "conns"}}, ErrFeatures, "another order"},
		{"wrong key kind", good, Expect{KeyKind: "host"}, ErrKeyKind, `"process"`},
		{"feature out of range", edit(t, m, true, func(g map[string]any) { tree0(g)["feature"].([]any)[0] = 7 }), Expect{}, ErrInvalid, "splits on feature 7"},
		{"cycle", edit(t, m, true, func(g map[string]any) { tree0(g)["left"].([]any)[0] = 0 }), Expect{}, ErrInvalid, "child 0"},
		{"sizes", edit(t, m, true, func(g map[string]any) { tree0(g)["size"].([]any)[1] = 3 }), Expect{}, ErrInvalid, ""},
		{"short arrays", edit(t, m, true, func(g map[string]any) { tree0(g)["size"] = []any{256} }), Expect{}, ErrInvalid, "differ in length"},
		{"no trees", edit(t, m, true, func(g map[string]any) { g["trees"] = []any{} }), Expect{}, ErrInvalid, "no trees"},
		{"stats", edit(t, m, true, func(g map[string]any) { g["feature_stats"].(map[string]any)["median"] = []any{1} }), Expect{}, ErrInvalid, "median"},
		{"duplicate feature", edit(t, m, true, func(g map[string]any) { g["features"].([]any)[1] = "cpu" }), Expect{}, ErrInvalid, "named twice"},
		{"threshold", edit(t, m, true, func(g map[string]any) { g["threshold"] = 0 }), Expect{}, ErrInvalid, "threshold"},
		{"normalisation", edit(t, m, true, func(g map[string]any) { g["normalisation"] = map[string]any{"method": "zscore"} }), Expect{}, ErrInvalid, "zscore"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.data, c.want)
			require.ErrorIs(t, err, c.err)
			if c.msg != "" {
				require.ErrorContains(t, err, c.msg)
			}
		})
	}
	_, err = LoadFile(filepath.Join(t.TempDir(), "absent.json"), Expect{})
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestSaveIsAtomic(t *testing.T) {
	dir := t.TempDir()
	m := trainSmall(t, "none")
	require.NoError(t, m.Save(filepath.Join(dir, "m.json")))
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1, "no temporary file left behind")
	b, err := os.ReadFile(filepath.Join(dir, "m.json"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(b), `{"format":"amoskys-iforest","format_version":1,"checksum":"sha256:`))
}

func FuzzLoad(f *testing.F) {
	X := gaussian(64, 2, 1)
	p := DefaultParams()
	p.Trees = 2
	p.SampleSize = 8
	m, err := Train([]string{"a", "b"}, X, TrainOptions{Params: p, Created: time.Unix(0, 0)})
	if err != nil {
		f.Fatal(err)
	}
	good, _ := m.Marshal()
	f.Add(good)
	f.Add(good[:100])
	f.Add([]byte(`{"format":"amoskys-iforest","format_version":1}`))
	f.Add([]byte(`{"format":"amoskys-iforest","format_version":1,"checksum":"x","trees":[{"feature":[0],"left":[5]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Load(b, Expect{})
		if err != nil {
			return
		}
		// A model that loads must score without panicking and give a score in (0,1].
		x := make([]float64, len(m.Features))
		s := m.Score(x)
		if !(s > 0 && s <= 1) {
			t.Fatalf("score %v", s)
		}
		m.Explain(x)
	})
}

// The fuzzer cannot forge a checksum, so fuzz the structural checks directly as well.
func FuzzValidate(f *testing.F) {
	f.Add(int32(0), int32(1), int32(2), int32(8), int32(4), int32(4), 0.5)
	f.Add(int32(-1), int32(-1), int32(-1), int32(8), int32(0), int32(0), 0.0)
	f.Fuzz(func(t *testing.T, feat, l, r, s0, s1, s2 int32, thr float64) {
		m := &Model{Format: FormatName, FormatVersion: FormatVersion, Features: []string{"a", "b"},
			Normalisation: Normalisation{Method: "none"},
			Stats:         FeatureStats{Median: []float64{0, 0}, Q1: []float64{0, 0}, Q3: []float64{0, 0}},
			SampleSize:    8, Threshold: 0.5, ScoreMedian: 0.4,
			Trees: []TreeFile{{Feature: []int32{feat, -1, -1}, Threshold: []float64{thr, 0, 0},
				Left: []int32{l, -1, -1}, Right: []int32{r, -1, -1}, Size: []int32{s0, s1, s2}}}}
		b, err := m.Marshal()
		if err != nil {
			return
		}
		got, err := Load(b, Expect{})
		if err != nil {
			return
		}
		if s := got.Score([]float64{thr, thr + 1}); !(s > 0 && s <= 1) {
			t.Fatalf("score %v", s)
		}
	})
}
