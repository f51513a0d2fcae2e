package iforest

import (
	"math"
	"math/rand/v2"
	"sort"
)

// ROCAUC is the area under the ROC curve of scores against labels (true = outlier), with ties
// given half credit (the Mann-Whitney statistic). NaN when only one class is present.
func ROCAUC(scores []float64, labels []bool) float64 {
	n := len(scores)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var pos, neg, rankSum float64
	for i := 0; i < n; {
		j := i
		for j < n && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // mean of 1-based ranks i+1..j
		for k := i; k < j; k++ {
			if labels[idx[k]] {
				rankSum += avg
				pos++
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// PrecisionAtK is the share of outliers among the k highest scores (k <= 0: k = number of outliers).
func PrecisionAtK(scores []float64, labels []bool, k int) float64 {
	if k <= 0 {
		for _, l := range labels {
			if l {
				k++
			}
		}
	}
	k = min(k, len(scores))
	if k == 0 {
		return math.NaN()
	}
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	hit := 0
	for _, i := range idx[:k] {
		if labels[i] {
			hit++
		}
	}
	return float64(hit) / float64(k)
}

// Folds assigns each of n rows to one of k folds, shuffled deterministically by seed.
func Folds(n, k int, seed uint64) []int {
	perm := rand.New(rand.NewPCG(seed, 0x2545f4914f6cdd1d)).Perm(n)
	out := make([]int, n)
	for i, r := range perm {
		out[r] = i % k
	}
	return out
}

// CVResult is the outcome of a k-fold cross-validation.
type CVResult struct {
	Folds        int     `json:"folds"`
	ROCAUC       float64 `json:"roc_auc"`        // over the pooled out-of-fold scores
	MeanFoldAUC  float64 `json:"mean_fold_auc"`  // mean of per-fold AUCs (folds with both classes)
	PrecisionAtK float64 `json:"precision_at_k"` // over the pooled out-of-fold scores
	K            int     `json:"k"`
}

// CrossValidate fits on k-1 folds and scores the held-out fold, k times; labels are used only for
// evaluation (the forest is unsupervised). topK <= 0 means k = number of outliers.
func CrossValidate(X Matrix, labels []bool, p Params, k, topK int) (CVResult, error) {
	if k < 2 {
		k = 2
	}
	fold := Folds(X.Rows, k, p.Seed)
	scores := make([]float64, X.Rows)
	var aucSum float64
	var aucN int
	for f := range k {
		var tr, te []int
		for i, g := range fold {
			if g == f {
				te = append(te, i)
			} else {
				tr = append(tr, i)
			}
		}
		fp := p
		fp.Seed = uint64(uint32(p.Seed + uint64(f))) // within numpy's seed range
		forest, err := Fit(Subset(X, tr), fp)
		if err != nil {
			return CVResult{}, err
		}
		ts := forest.ScoreAll(Subset(X, te), p.Workers)
		tl := make([]bool, len(te))
		for j, i := range te {
			scores[i] = ts[j]
			tl[j] = labels[i]
		}
		if a := ROCAUC(ts, tl); !math.IsNaN(a) {
			aucSum += a
			aucN++
		}
	}
	r := CVResult{Folds: k, ROCAUC: ROCAUC(scores, labels), PrecisionAtK: PrecisionAtK(scores, labels, topK), K: topK}
	if r.K <= 0 {
		for _, l := range labels {
			if l {
				r.K++
			}
		}
	}
	r.MeanFoldAUC = math.NaN()
	if aucN > 0 {
		r.MeanFoldAUC = aucSum / float64(aucN)
	}
	return r, nil
}

// Subset returns the rows of X named by idx, copied.
func Subset(X Matrix, idx []int) Matrix {
	out := Matrix{Rows: len(idx), Cols: X.Cols, Data: make([]float64, 0, len(idx)*X.Cols)}
	for _, i := range idx {
		out.Data = append(out.Data, X.Row(i)...)
	}
	return out
}
