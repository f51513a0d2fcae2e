package iforest

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// gaussian returns n rows of d standard-normal features.
func gaussian(n, d int, seed uint64) Matrix {
	r := rand.New(rand.NewPCG(seed, 7))
	m := Matrix{Rows: n, Cols: d, Data: make([]float64, n*d)}
	for i := range m.Data {
		m.Data[i] = r.NormFloat64()
	}
	return m
}

func TestCorrection(t *testing.T) {
	require.Equal(t, 0.0, C(1))
	require.Equal(t, 1.0, C(2))
	// c(256) from the paper's formula: 2H(255) - 2*255/256.
	require.InDelta(t, 10.244770, C(256), 1e-5)
}

func TestDeterministicForSeedWhateverTheWorkers(t *testing.T) {
	X := gaussian(2000, 5, 1)
	p := DefaultParams()
	p.Seed = 42
	p.Workers = 1
	a, err := Fit(X, p)
	require.NoError(t, err)
	p.Workers = 4
	b, err := Fit(X, p)
	require.NoError(t, err)
	require.Equal(t, a.Feature, b.Feature)
	require.Equal(t, a.Thresh, b.Thresh)
	require.Equal(t, a.Left, b.Left)
	require.Equal(t, a.Size, b.Size)
	require.Equal(t, a.ScoreAll(X, 1), b.ScoreAll(X, 3))

	p.Seed = 43
	c, err := Fit(X, p)
	require.NoError(t, err)
	require.NotEqual(t, a.Thresh, c.Thresh, "another seed grows another forest")
}

func TestTreeShape(t *testing.T) {
	X := gaussian(1000, 3, 2)
	f, err := Fit(X, DefaultParams())
	require.NoError(t, err)
	require.Len(t, f.Roots, 100)
	require.Equal(t, 256, f.SampleSize)
	for ti, root := range f.Roots {
		end := len(f.Feature)
		if ti+1 < len(f.Roots) {
			end = int(f.Roots[ti+1])
		}
		require.LessOrEqual(t, end-int(root), 2*256-1)
		require.EqualValues(t, 256, f.Size[root])
		leaves := int32(0)
		for n := int(root); n < end; n++ {
			if f.Feature[n] < 0 {
				leaves += f.Size[n]
				// Leaf path length: at most the height limit ceil(log2 256) = 8 plus c(size).
				require.LessOrEqual(t, f.Thresh[n], 8+C(int(f.Size[n]))+1e-9)
				continue
			}
			require.Equal(t, f.Size[n], f.Size[f.Left[n]]+f.Size[f.Right[n]])
			require.Greater(t, f.Left[n], int32(n), "children come after parents")
		}
		require.EqualValues(t, 256, leaves, "every sampled row ends in one leaf")
	}
}

func TestScoresAndKnownOutliers(t *testing.T) {
	X := gaussian(3000, 4, 3)
	// Ten planted outliers far out on one or two features.
	labels := make([]bool, X.Rows)
	for i := 0; i < 10; i++ {
		r := X.Row(i * 300)
		r[i%4] += 6
		r[(i+1)%4] -= 6
		labels[i*300] = true
	}
	p := DefaultParams()
	p.Contamination = 10.0 / 3000
	f, err := Fit(X, p)
	require.NoError(t, err)
	require.Greater(t, f.Threshold, 0.5, "a contamination of 1/300 sets a threshold above the auto 0.5")
	s := f.ScoreAll(X, 0)
	for i, v := range s {
		require.True(t, v > 0 && v <= 1, "score %d = %v out of (0,1]", i, v)
	}
	require.Greater(t, ROCAUC(s, labels), 0.99)
	// 8 of the 10 planted rows are in the top 10 for this seed (scikit-learn's forest, the same).
	require.GreaterOrEqual(t, PrecisionAtK(s, labels, 10), 0.8, "the planted rows score highest")
	for i := 0; i < 10; i++ {
		require.Greater(t, s[i*300], 0.6)
	}
	// The centre of the cloud is normal.
	require.Less(t, f.Score([]float64{0, 0, 0, 0}), 0.45)
	// A point far beyond everything seen scores close to the height limit's floor.
	require.Greater(t, f.Score([]float64{100, 100, 100, 100}), 0.7)
}

func TestSharesPointAtPerturbedFeature(t *testing.T) {
	X := gaussian(2000, 6, 4)
	f, err := Fit(X, DefaultParams())
	require.NoError(t, err)
	for j := 0; j < 6; j++ {
		x := make([]float64, 6)
		x[j] = 7
		sh := f.Shares(x)
		var sum float64
		best := 0
		for i, v := range sh {
			sum += v
			if v > sh[best] {
				best = i
			}
		}
		require.InDelta(t, 1, sum, 1e-9)
		require.Equal(t, j, best, "shares %v", sh)
		require.Greater(t, sh[j], 0.3)
	}
}

func TestSmallAndConstantData(t *testing.T) {
	// Fewer rows than ψ: ψ shrinks to the row count.
	X := gaussian(50, 2, 5)
	f, err := Fit(X, DefaultParams())
	require.NoError(t, err)
	require.Equal(t, 50, f.SampleSize)
	// Constant data: every tree is one leaf, and every point gets the same score.
	c := Matrix{Rows: 100, Cols: 2, Data: make([]float64, 200)}
	f, err = Fit(c, DefaultParams())
	require.NoError(t, err)
	require.Equal(t, 100, f.Nodes())
	require.Equal(t, f.Score([]float64{0, 0}), f.Score([]float64{5, 5}))

	_, err = Fit(Matrix{}, DefaultParams())
	require.ErrorIs(t, err, ErrNoData)
	bad := Matrix{Rows: 1, Cols: 1, Data: []float64{math.NaN()}}
	_, err = Fit(bad, DefaultParams())
	require.ErrorContains(t, err, "not finite")
	p := DefaultParams()
	p.Trees = 0
	_, err = Fit(X, p)
	require.ErrorContains(t, err, "trees")
	p = DefaultParams()
	p.Seed = 1 << 32 // beyond numpy's RandomState seeds: refused, not folded onto another seed
	_, err = Fit(X, p)
	require.ErrorContains(t, err, "seed must be 0..4294967295")
}

func TestMaxFeaturesRestrictsSplits(t *testing.T) {
	X := gaussian(500, 10, 6)
	p := DefaultParams()
	p.MaxFeatures = 0.2
	f, err := Fit(X, p)
	require.NoError(t, err)
	for ti, root := range f.Roots {
		end := len(f.Feature)
		if ti+1 < len(f.Roots) {
			end = int(f.Roots[ti+1])
		}
		used := map[int32]bool{}
		for n := int(root); n < end; n++ {
			if f.Feature[n] >= 0 {
				used[f.Feature[n]] = true
			}
		}
		require.LessOrEqual(t, len(used), 2)
	}
}

func TestROCAUCTies(t *testing.T) {
	require.Equal(t, 1.0, ROCAUC([]float64{0.1, 0.2, 0.9}, []bool{false, false, true}))
	require.Equal(t, 0.5, ROCAUC([]float64{0.5, 0.5}, []bool{false, true}))
	require.True(t, math.IsNaN(ROCAUC([]float64{1, 2}, []bool{true, true})))
	require.Equal(t, 0.5, PrecisionAtK([]float64{0.9, 0.8, 0.1}, []bool{true, false, true}, 2))
}

// The complete-tree layout (batch and single row) and the general layout agree exactly.
func TestLayoutsAgree(t *testing.T) {
	for _, c := range []struct{ rows, cols, psi int }{{1000, 7, 256}, {300, 3, 100}, {2000, 5, 512}} {
		X := gaussian(c.rows, c.cols, 12)
		// Ties and repeated values, so that some rows fall exactly on thresholds.
		for i := range X.Data {
			if i%3 == 0 {
				X.Data[i] = math.Round(X.Data[i] * 4)
			}
		}
		p := DefaultParams()
		p.Trees = 37 // not a multiple of the interleaving
		p.SampleSize = c.psi
		f, err := Fit(X, p)
		require.NoError(t, err)
		require.NotNil(t, f.full)
		require.Equal(t, c.psi <= 256, f.bytes != nil)
		batch := f.ScoreAll(X, 1)
		for i := range X.Rows {
			require.Equal(t, batch[i], f.Score(X.Row(i)), "row %d", i)
		}
		// The kernel against its Go version, and both against the other layouts: the same
		// path lengths summed in the same order, so exactly the same scores.
		if f.bytes != nil {
			rows := make([]brow, X.Rows/groupRows*groupRows)
			for r := range rows {
				rows[r].set(X.Row(r))
			}
			a, b := make([]float64, len(rows)), make([]float64, len(rows))
			bytesGroups(f.bytes, rows, a)
			bytesGroupsGo(f.bytes, rows, b)
			require.Equal(t, a, b)
		}
		bytes, full := f.bytes, f.full
		f.bytes = nil // the complete layout, used when ψ or the features are above 256
		require.Equal(t, batch, f.ScoreAll(X, 1))
		f.full = nil // the general layout, used when the height limit is too deep for the complete one
		general := f.ScoreAll(X, 1)
		for i := range X.Rows {
			require.InDelta(t, batch[i], general[i], 1e-12, "row %d", i)
			require.InDelta(t, batch[i], f.Score(X.Row(i)), 1e-12, "row %d", i)
		}
		f.bytes, f.full = bytes, full
	}
}

// Values exactly at, just below and just above split thresholds, signed zeros, infinities and
// NaN take the same branch in the byte layout (keys and raised thresholds, kernel and Go) as in
// the general layout: x > t goes right, everything else (NaN included) left.
func TestByteLayoutEdgeValues(t *testing.T) {
	X := gaussian(500, 4, 3)
	for i := range X.Data {
		if i%2 == 0 {
			X.Data[i] = math.Round(X.Data[i])
		}
	}
	p := DefaultParams()
	p.Trees = 23
	f, err := Fit(X, p)
	require.NoError(t, err)
	require.NotNil(t, f.bytes)
	var edge []float64
	for i, ft := range f.Feature {
		if ft >= 0 && len(edge) < 400 {
			th := f.Thresh[i]
			edge = append(edge, th, math.Nextafter(th, math.Inf(1)), math.Nextafter(th, math.Inf(-1)))
		}
	}
	edge = append(edge, 0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), math.MaxFloat64, -math.MaxFloat64)
	rng := rand.New(rand.NewPCG(5, 6))
	Y := Matrix{Rows: 1100, Cols: 4, Data: make([]float64, 1100*4)}
	for i := range Y.Data {
		Y.Data[i] = edge[rng.IntN(len(edge))]
	}
	batch := f.ScoreAll(Y, 1)
	bytes, full := f.bytes, f.full
	f.bytes, f.full = nil, nil
	for i := range Y.Rows {
		require.Equal(t, f.Score(Y.Row(i)), batch[i], "row %d %v", i, Y.Row(i))
	}
	f.bytes, f.full = bytes, full
	for i := range Y.Rows {
		require.Equal(t, f.Score(Y.Row(i)), batch[i], "row %d %v", i, Y.Row(i))
	}
}

// The byte layout's explanation walk gives the general layout's path length and shares bit for
// bit, on rows that sit exactly on thresholds too, and with a tree count that is not a multiple
// of the eight walked at once.
func TestPathSharesByteLayoutIsExact(t *testing.T) {
	X := gaussian(1500, 7, 11)
	p := DefaultParams()
	p.Trees = 37
	f, err := Fit(X, p)
	require.NoError(t, err)
	require.NotNil(t, f.bytes)
	general := *f
	general.bytes, general.bweights = nil, nil
	rows := [][]float64{}
	for i := range 200 {
		rows = append(rows, X.Row(i))
	}
	for n := range 200 { // on a threshold, and just above it
		if f.Feature[n] < 0 {
			continue
		}
		x := append([]float64(nil), X.Row(n)...)
		x[f.Feature[n]] = f.Thresh[n]
		rows = append(rows, x)
		y := append([]float64(nil), x...)
		y[f.Feature[n]] = math.Nextafter(f.Thresh[n], math.Inf(1))
		rows = append(rows, y)
	}
	for i, x := range rows {
		pl, sh := f.PathShares(x)
		gpl, gsh := general.PathShares(x)
		require.Equal(t, gpl, pl, "row %d path length", i)
		require.Equal(t, gsh, sh, "row %d shares", i)
		require.Equal(t, f.PathLength(x), pl, "row %d: PathShares and PathLength", i)
		require.Equal(t, f.Score(x), f.scoreOf(pl), "row %d", i)
	}
}
