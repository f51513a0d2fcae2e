package iforest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The forest grown here for a seed is the one scikit-learn 1.2.1 grows for random_state=seed:
// each tree's split features, thresholds and node sizes in preorder, and every score. The
// reference is the real scikit-learn (Debian python3-sklearn, installed by scripts/deps), run on
// the same CSV. The cases reach each of scikit-learn's row samplers (permutation, tracking
// selection, reservoir), feature subsampling, constant and near-constant features, ties and
// values that float32 rounds together.

const sklearnPython = "/usr/bin/python3"

func requireSklearn(t *testing.T) {
	t.Helper()
	out, err := exec.Command(sklearnPython, "-c", "import sklearn; print(sklearn.__version__)").Output()
	v := strings.TrimSpace(string(out))
	switch {
	case err == nil && v == "1.2.1":
		return
	case err == nil:
		t.Skipf("scikit-learn %s installed; the draws are checked against 1.2.1 (Debian bookworm)", v)
	case os.Getenv("AMOSKYS_REQUIRE_DEPS") == "1":
		t.Fatalf("scikit-learn is required (AMOSKYS_REQUIRE_DEPS=1; scripts/deps/40-sklearn.sh installs it): %v", err)
	default:
		t.Skipf("scikit-learn not installed (scripts/deps/40-sklearn.sh installs it): %v", err)
	}
}

type skForest struct {
	Trees []struct {
		Feature   []int32   `json:"feature"`
		Threshold []float64 `json:"threshold"`
		Size      []int32   `json:"size"`
	} `json:"trees"`
	Scores []float64 `json:"scores"`
}

func writeCSV(t *testing.T, X Matrix) string {
	t.Helper()
	var b strings.Builder
	for j := range X.Cols {
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "x%d", j)
	}
	b.WriteByte('\n')
	for i := range X.Rows {
		for j, v := range X.Row(i) {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
		b.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "x.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

func sklearnFit(t *testing.T, csv string, p Params) skForest {
	t.Helper()
	script := filepath.Join(moduleRootDir(t), "scripts", "iforest_sklearn_trees.py")
	cmd := exec.Command(sklearnPython, script, csv, strconv.FormatUint(p.Seed, 10), strconv.Itoa(p.Trees),
		strconv.Itoa(p.SampleSize), strconv.FormatFloat(p.MaxFeatures, 'g', -1, 64))
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1", "PYTHONWARNINGS=ignore")
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("%s: %v\n%s", script, err, ee.Stderr)
	}
	require.NoError(t, err)
	var f skForest
	require.NoError(t, json.Unmarshal(out, &f))
	return f
}

// requireSameForest compares tree by tree in preorder.
func requireSameForest(t *testing.T, f *Forest, sk skForest, X Matrix) {
	t.Helper()
	require.Len(t, sk.Trees, len(f.Roots))
	for ti, root := range f.Roots {
		var feat, size []int32
		var thr []float64
		var walk func(n int32)
		walk = func(n int32) {
			feat = append(feat, f.Feature[n])
			size = append(size, f.Size[n])
			if f.Feature[n] < 0 {
				thr = append(thr, 0)
				return
			}
			thr = append(thr, f.Thresh[n])
			walk(f.Left[n])
			walk(f.Right[n])
		}
		walk(root)
		want := sk.Trees[ti]
		require.Equal(t, want.Feature, feat, "tree %d: split features (preorder)", ti)
		require.Equal(t, want.Size, size, "tree %d: node sizes (preorder)", ti)
		for k := range thr {
			if feat[k] >= 0 {
				require.Equal(t, float32Boundary(want.Threshold[k]), thr[k], "tree %d node %d: threshold %v", ti, k, want.Threshold[k])
			}
		}
	}
	got := f.ScoreAll(X, 0)
	require.Len(t, sk.Scores, len(got))
	for i := range got {
		require.InDelta(t, sk.Scores[i], got[i], 1e-12, "row %d", i)
	}
}

func TestForestIsScikitLearns(t *testing.T) {
	requireSklearn(t)
	r := rand.New(rand.NewPCG(5, 5))
	// Ties, a constant column, a column constant within FEATURE_THRESHOLD (1e-7) and a column
	// whose distinct float64 values float32 rounds together.
	lumpy := func(n int) Matrix {
		X := Matrix{Rows: n, Cols: 5, Data: make([]float64, n*5)}
		for i := range n {
			row := X.Row(i)
			row[0] = float64(r.IntN(4))
			row[1] = 3
			row[2] = 1 + r.Float64()*5e-8
			row[3] = 1 + float64(r.IntN(3))*1e-9 + r.NormFloat64()*float64(r.IntN(2))
			row[4] = r.NormFloat64() * 100
		}
		return X
	}
	cases := []struct {
		name string
		X    Matrix
		p    func(*Params)
	}{
		{"permutation rows", gaussian(2000, 5, 1), nil},
		{"tracking selection rows", gaussian(30000, 3, 2), func(p *Params) { p.Trees = 20 }},
		{"reservoir rows", gaussian(257, 4, 3), nil},
		{"fewer rows than samples", gaussian(100, 6, 4), func(p *Params) { p.MaxFeatures = 0.5 }},
		{"feature subsample", gaussian(3000, 10, 6), func(p *Params) { p.MaxFeatures = 0.3; p.Trees = 30 }},
		{"constant and near-constant features", lumpy(1500), nil},
		{"only constant features", Matrix{Rows: 300, Cols: 2, Data: func() []float64 {
			d := make([]float64, 600)
			for i := range d {
				d[i] = 7
			}
			return d
		}()}, func(p *Params) { p.Trees = 5 }},
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := DefaultParams()
			p.Seed = uint64(ci * 1000003)
			if c.p != nil {
				c.p(&p)
			}
			f, err := Fit(c.X, p)
			require.NoError(t, err)
			requireSameForest(t, f, sklearnFit(t, writeCSV(t, c.X), p), c.X)
		})
	}
}

// TestForestIsScikitLearnsOnOutlierSets checks the shared labelled sets, one seed each.
func TestForestIsScikitLearnsOnOutlierSets(t *testing.T) {
	requireSklearn(t)
	dir := outlierDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.csv"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no labelled sets in %s", dir)
	for i, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			d, err := ReadLabelledCSV(path)
			require.NoError(t, err)
			p := DefaultParams()
			p.Seed = uint64(i)
			if raceEnabled || testing.Short() {
				p.Trees = 10 // the race detector slows the fit ~20x; ten trees still reach every sampler
			}
			f, err := Fit(d.X, p)
			require.NoError(t, err)
			requireSameForest(t, f, sklearnFit(t, path, p), d.X)
		})
	}
}
