package iforest

import "math"

// maxFullDepth bounds the complete-tree layout: 2^depth leaves per tree.
const maxFullDepth = 14

// full is the fast scoring layout: every tree padded to a complete binary tree of the height
// limit L, nodes in heap order (children of i at 2i+1 and 2i+2), as a struct of arrays. A leaf
// shallower than L becomes a chain of pass-through nodes (threshold +Inf: always left) ending at
// a bottom leaf that holds its path length, so every walk is exactly L branch-free steps
// (i = 2i+1+[x > t]): no leaf test, no misprediction, and several walks can be interleaved.
type full struct {
	depth    int
	internal int       // 2^L - 1 internal nodes per tree
	feats    []int32   // trees × internal: split feature
	thrs     []float64 // trees × internal: split threshold
	leaves   []float64 // trees × 2^L: path length
}

func (f *Forest) buildFull() {
	f.full = nil
	L := 0
	if f.SampleSize > 1 {
		for 1<<L < f.SampleSize {
			L++
		}
	}
	if L == 0 || L > maxFullDepth {
		return
	}
	in := 1<<L - 1
	n := len(f.Roots)
	fl := &full{depth: L, internal: in, feats: make([]int32, in*n), thrs: make([]float64, in*n), leaves: make([]float64, (in+1)*n)}
	for t, r := range f.Roots {
		feats, thrs := fl.feats[t*in:(t+1)*in], fl.thrs[t*in:(t+1)*in]
		leaves := fl.leaves[t*(in+1) : (t+1)*(in+1)]
		var fill func(g int32, i, k int) bool
		fill = func(g int32, i, k int) bool {
			if k == L {
				if f.Feature[g] >= 0 {
					return false // deeper than the height limit: use the general layout
				}
				leaves[i-in] = f.Thresh[g]
				return true
			}
			if f.Feature[g] < 0 {
				thrs[i] = math.Inf(1)
				return fill(g, 2*i+1, k+1) && fill(g, 2*i+2, k+1)
			}
			feats[i], thrs[i] = f.Feature[g], f.Thresh[g]
			return fill(f.Left[g], 2*i+1, k+1) && fill(f.Right[g], 2*i+2, k+1)
		}
		if !fill(r, 0, 0) {
			return
		}
	}
	f.full = fl
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// pathSum is Σ over trees of the path length of x, on the complete layout; four trees are
// walked at once so their chains of dependent loads overlap.
func (fl *full) pathSum(x []float64, trees int) float64 {
	var sum float64
	in := fl.internal
	feats, thrs, leaves := fl.feats, fl.thrs, fl.leaves
	t := 0
	for ; t+4 <= trees; t += 4 {
		b0, b1, b2, b3 := t*in, (t+1)*in, (t+2)*in, (t+3)*in
		f0, f1, f2, f3 := feats[b0:b0+in], feats[b1:b1+in], feats[b2:b2+in], feats[b3:b3+in]
		h0, h1, h2, h3 := thrs[b0:b0+in], thrs[b1:b1+in], thrs[b2:b2+in], thrs[b3:b3+in]
		var i0, i1, i2, i3 int
		for range fl.depth {
			i0 = 2*i0 + 1 + b2i(x[f0[i0]] > h0[i0])
			i1 = 2*i1 + 1 + b2i(x[f1[i1]] > h1[i1])
			i2 = 2*i2 + 1 + b2i(x[f2[i2]] > h2[i2])
			i3 = 2*i3 + 1 + b2i(x[f3[i3]] > h3[i3])
		}
		sum += leaves[t*(in+1)+i0-in]
		sum += leaves[(t+1)*(in+1)+i1-in]
		sum += leaves[(t+2)*(in+1)+i2-in]
		sum += leaves[(t+3)*(in+1)+i3-in]
	}
	for ; t < trees; t++ {
		f, h := feats[t*in:(t+1)*in], thrs[t*in:(t+1)*in]
		i := 0
		for range fl.depth {
			i = 2*i + 1 + b2i(x[f[i]] > h[i])
		}
		sum += leaves[t*(in+1)+i-in]
	}
	return sum
}

// blockSums adds, for rows [s,e) of X, each row's path lengths over all trees into sums, tree by
// tree so a tree stays in L1 while it judges the block, four rows at a time.
func (fl *full) blockSums(X Matrix, s, e, trees int, sums []float64) {
	in := fl.internal
	d := X.Cols
	data := X.Data
	for t := range trees {
		leaves := fl.leaves[t*(in+1) : (t+1)*(in+1)]
		r := s
		feats := fl.feats[t*in : (t+1)*in]
		thrs := fl.thrs[t*in : (t+1)*in]
		for ; r+4 <= e; r += 4 {
			// Four walks advanced together level by level.
			x0 := data[r*d : r*d+d]
			x1 := data[(r+1)*d : (r+1)*d+d]
			x2 := data[(r+2)*d : (r+2)*d+d]
			x3 := data[(r+3)*d : (r+3)*d+d]
			var i0, i1, i2, i3 int
			for range fl.depth {
				i0 = 2*i0 + 1 + b2i(x0[feats[i0]] > thrs[i0])
				i1 = 2*i1 + 1 + b2i(x1[feats[i1]] > thrs[i1])
				i2 = 2*i2 + 1 + b2i(x2[feats[i2]] > thrs[i2])
				i3 = 2*i3 + 1 + b2i(x3[feats[i3]] > thrs[i3])
			}
			sums[r-s] += leaves[i0-in]
			sums[r-s+1] += leaves[i1-in]
			sums[r-s+2] += leaves[i2-in]
			sums[r-s+3] += leaves[i3-in]
		}
		for ; r < e; r++ {
			x := data[r*d : r*d+d]
			i := 0
			for range fl.depth {
				i = 2*i + 1 + b2i(x[feats[i]] > thrs[i])
			}
			sums[r-s] += leaves[i-in]
		}
	}
}
