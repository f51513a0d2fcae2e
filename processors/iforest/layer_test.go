package iforest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	core "github.com/amoskys/amoskys/internal/iforest"
	"github.com/amoskys/amoskys/processors/window"
)

func TestAbstainsWithoutModel(t *testing.T) {
	l := NewLayer(Config{ModelPath: filepath.Join(t.TempDir(), "iforest.json")})
	fv := hostVectors(t, hostEvents(2, t0, 3, nil))[0]
	r := l.Judge(fv)
	require.Nil(t, r.Score, "no model: abstain, never 0")
	require.Contains(t, r.Abstain, "no isolation forest model loaded")
	require.Contains(t, r.Abstain, "no such file")
	require.Equal(t, "iforest", r.Layer)
	require.Equal(t, fv.ID, r.Source)
}

func TestScoresWindowVectorsAndExplains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "iforest.json")
	require.NoError(t, trainHostModel(t, "quiet-day").Save(path))
	l := NewLayer(Config{ModelPath: path, TopFeatures: 5})
	require.NoError(t, l.LoadError())

	vs := hostVectors(t, hostEvents(3, t0.Add(24*time.Hour), 30, map[int]bool{17: true}))
	var spike, worstNormal float64
	for _, fv := range vs {
		r := l.Judge(fv)
		require.NotNil(t, r.Score, "abstained: %s", r.Abstain)
		require.NotEmpty(t, r.Reasons, "every score comes with its explanation")
		if fv.Start.Equal(t0.Add(24*time.Hour + 17*time.Minute)) {
			spike = *r.Score
			ids := ""
			for _, x := range r.Reasons {
				ids += x.ID + " "
			}
			require.Contains(t, ids, "feature:cpu.user ", "reasons %+v", r.Reasons)
			require.Contains(t, ids, "feature:load1 ", "reasons %+v", r.Reasons)
			require.Regexp(t, `^(cpu\.user|load1)`, r.Reasons[0].Text)
			require.Equal(t, "quiet-day", r.Reasons[0].Evidence["model"])
			require.Greater(t, spike, 0.5, "above the threshold")
		} else {
			worstNormal = max(worstNormal, *r.Score)
		}
	}
	require.Greater(t, spike, worstNormal)
}

func TestAbstainsOnOtherKindOrMissingFeatures(t *testing.T) {
	path := filepath.Join(t.TempDir(), "iforest.json")
	require.NoError(t, trainHostModel(t, "m").Save(path))
	l := NewLayer(Config{ModelPath: path})
	fv := *hostVectors(t, hostEvents(4, t0, 3, nil))[0]

	other := fv
	other.KeyKind = window.KindProcess
	r := l.Judge(&other)
	require.Nil(t, r.Score)
	require.Contains(t, r.Abstain, "judges host feature vectors, not process")

	short := fv
	short.Names, short.Values = fv.Names[1:], fv.Values[1:]
	r = l.Judge(&short)
	require.Nil(t, r.Score)
	require.Contains(t, r.Abstain, "lacks cpu.user")

	// The same features in another order are looked up by name.
	rev := fv
	rev.Names, rev.Values = nil, nil
	for i := len(fv.Names) - 1; i >= 0; i-- {
		rev.Names = append(rev.Names, fv.Names[i])
		rev.Values = append(rev.Values, fv.Values[i])
	}
	a, b := l.Judge(&fv), l.Judge(&rev)
	require.NotNil(t, b.Score)
	require.Equal(t, *a.Score, *b.Score)
}

func TestBadModelRefusedPreviousStays(t *testing.T) {
	path := filepath.Join(t.TempDir(), "iforest.json")
	good := trainHostModel(t, "good")
	require.NoError(t, good.Save(path))
	l := NewLayer(Config{ModelPath: path})
	require.Equal(t, "good", l.Model().Name)
	b, err := os.ReadFile(path)
	require.NoError(t, err)

	for name, bad := range map[string][]byte{
		"truncated": b[:len(b)/3],
		"garbage":   []byte("not a model"),
		"edited":    []byte(string(b[:len(b)-30]) + "0" + string(b[len(b)-29:])),
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(path, bad, 0o644))
			_, err := l.Reload()
			require.Error(t, err)
			require.ErrorContains(t, err, path)
			require.Equal(t, "good", l.Model().Name, "the previous model stays in force")
			require.Error(t, l.LoadError())
		})
	}
	// A model of features the window stage does not produce is refused at load.
	X := core.Matrix{Rows: 50, Cols: 2, Data: make([]float64, 100)}
	for i := range X.Data {
		X.Data[i] = float64(i % 7)
	}
	m, err := core.Train([]string{"cpu.user", "gpu.temp"}, X, core.TrainOptions{Params: core.DefaultParams(), KeyKind: "host"})
	require.NoError(t, err)
	require.NoError(t, m.Save(path))
	_, err = l.Reload()
	require.ErrorIs(t, err, ErrNoWindowFeatures)
	require.ErrorContains(t, err, "gpu.temp")
	require.Equal(t, "good", l.Model().Name)
}

func TestWatchSwapsModel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "iforest.json")
	l := NewLayer(Config{ModelPath: path})
	require.Nil(t, l.Model())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan error, 10)
	require.NoError(t, l.Watch(ctx, 10*time.Millisecond, func(_ *core.Model, err error) { got <- err }))
	require.NoError(t, trainHostModel(t, "first").Save(path))
	require.NoError(t, <-got)
	require.Equal(t, "first", l.Model().Name)
	require.NoError(t, os.WriteFile(path, []byte(`{"format":"amoskys-iforest","format_version":9}`), 0o644))
	require.ErrorIs(t, <-got, core.ErrVersion)
	require.Equal(t, "first", l.Model().Name)
}
