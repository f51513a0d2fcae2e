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

// blockCols is the number of rows blockSums takes at a time (a power of two).
const blockCols = 64

// blockSums adds, for the n <= blockCols rows held column-major in col (feature f of row r at
// col[f*blockCols+r]), each row's path lengths over all trees into sums. It goes tree by tree so a
// tree stays in L1 while it judges the block, and walks eight rows at a time so their chains of
// dependent loads overlap; the column-major block keeps all eight walks on one base register.
func (fl *full) blockSums(col []float64, n, trees int, sums []float64) {
	in := fl.internal
	for t := range trees {
		leaves := fl.leaves[t*(in+1) : (t+1)*(in+1)]
		feats := fl.feats[t*in : (t+1)*in]
		thrs := fl.thrs[t*in : (t+1)*in]
		r := 0
		for ; r+8 <= n; r += 8 {
			c := col[r:]
			var i0, i1, i2, i3, i4, i5, i6, i7 int
			for range fl.depth {
				i0 = 2*i0 + 1 + b2i(c[int(feats[i0])*blockCols] > thrs[i0])
				i1 = 2*i1 + 1 + b2i(c[int(feats[i1])*blockCols+1] > thrs[i1])
				i2 = 2*i2 + 1 + b2i(c[int(feats[i2])*blockCols+2] > thrs[i2])
				i3 = 2*i3 + 1 + b2i(c[int(feats[i3])*blockCols+3] > thrs[i3])
				i4 = 2*i4 + 1 + b2i(c[int(feats[i4])*blockCols+4] > thrs[i4])
				i5 = 2*i5 + 1 + b2i(c[int(feats[i5])*blockCols+5] > thrs[i5])
				i6 = 2*i6 + 1 + b2i(c[int(feats[i6])*blockCols+6] > thrs[i6])
				i7 = 2*i7 + 1 + b2i(c[int(feats[i7])*blockCols+7] > thrs[i7])
			}
			s := sums[r : r+8]
			s[0] += leaves[i0-in]
			s[1] += leaves[i1-in]
			s[2] += leaves[i2-in]
			s[3] += leaves[i3-in]
			s[4] += leaves[i4-in]
			s[5] += leaves[i5-in]
			s[6] += leaves[i6-in]
			s[7] += leaves[i7-in]
		}
		for ; r < n; r++ {
			i := 0
			for range fl.depth {
				i = 2*i + 1 + b2i(col[int(feats[i])*blockCols+r] > thrs[i])
			}
			sums[r] += leaves[i-in]
		}
	}
}

// pathSum is Σ over trees of the path length of x, on the complete layout; eight trees are
// walked at once so their chains of dependent loads overlap.
func (fl *full) pathSum(x []float64, trees int) float64 {
	var sum float64
	in := fl.internal
	feats, thrs, leaves := fl.feats, fl.thrs, fl.leaves
	t := 0
	for ; t+8 <= trees; t += 8 {
		fs := feats[t*in : (t+8)*in]
		hs := thrs[t*in : (t+8)*in]
		var i0, i1, i2, i3, i4, i5, i6, i7 int
		for range fl.depth {
			i0 = 2*i0 + 1 + b2i(x[fs[i0]] > hs[i0])
			i1 = 2*i1 + 1 + b2i(x[fs[in+i1]] > hs[in+i1])
			i2 = 2*i2 + 1 + b2i(x[fs[2*in+i2]] > hs[2*in+i2])
			i3 = 2*i3 + 1 + b2i(x[fs[3*in+i3]] > hs[3*in+i3])
			i4 = 2*i4 + 1 + b2i(x[fs[4*in+i4]] > hs[4*in+i4])
			i5 = 2*i5 + 1 + b2i(x[fs[5*in+i5]] > hs[5*in+i5])
			i6 = 2*i6 + 1 + b2i(x[fs[6*in+i6]] > hs[6*in+i6])
			i7 = 2*i7 + 1 + b2i(x[fs[7*in+i7]] > hs[7*in+i7])
		}
		ls := leaves[t*(in+1) : (t+8)*(in+1)]
		sum += ls[i0-in]
		sum += ls[(in+1)+i1-in]
		sum += ls[2*(in+1)+i2-in]
		sum += ls[3*(in+1)+i3-in]
		sum += ls[4*(in+1)+i4-in]
		sum += ls[5*(in+1)+i5-in]
		sum += ls[6*(in+1)+i6-in]
		sum += ls[7*(in+1)+i7-in]
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
