package iforest

import (
	"math"
	"unsafe"
)

// maxFullDepth bounds the complete-tree layout: 2^depth leaves per tree.
const maxFullDepth = 14

// full is the fast scoring layout: every tree padded to a complete binary tree of the height
// limit L, nodes in heap order (children of i at 2i+1 and 2i+2). A leaf shallower than L becomes
// a chain of pass-through nodes (threshold +Inf: always left) ending at a bottom leaf that holds
// its path length, so every walk is exactly L branch-free steps: no leaf test, no misprediction.
type full struct {
	depth    int
	internal int        // 2^L - 1 internal nodes per tree
	nodes    []fullNode // trees × internal
	leaves   []float64  // trees × 2^L path lengths
}

type fullNode struct {
	thresh  float64
	feature int32
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
	fl := &full{depth: L, internal: in, nodes: make([]fullNode, in*len(f.Roots)), leaves: make([]float64, (in+1)*len(f.Roots))}
	for t, r := range f.Roots {
		nodes := fl.nodes[t*in : (t+1)*in]
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
				nodes[i] = fullNode{thresh: math.Inf(1)}
				return fill(g, 2*i+1, k+1) && fill(g, 2*i+2, k+1)
			}
			nodes[i] = fullNode{thresh: f.Thresh[g], feature: f.Feature[g]}
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

// lanes is how many independent walks advance together, level by level: a walk is a chain of
// dependent loads, so interleaving several lets the CPU overlap them instead of waiting on each.
const lanes = 8

// The two walks below are the hot loops of scoring. They index with unsafe pointer arithmetic to
// shed the bounds checks (two per step, as many instructions as the step itself). That is sound
// because of invariants checked once: buildFull only produces heap-ordered complete trees, so a
// walk index stays below 2^L-1 for L steps and then names one of 2^L leaves; every node's feature
// is < NumFeat (Fit makes it so, and Model.validate refuses files where it is not); and the
// callers (Score, ScoreInto) check that each row holds NumFeat values.

// pathSum is Σ over trees of the path length of x, on the complete layout; lanes walk several
// trees at once.
func (fl *full) pathSum(x []float64, trees int) float64 {
	var sum float64
	in := fl.internal
	np := unsafe.Pointer(unsafe.SliceData(fl.nodes))
	lp := unsafe.Pointer(unsafe.SliceData(fl.leaves))
	xp := unsafe.Pointer(unsafe.SliceData(x))
	t := 0
	for ; t+lanes <= trees; t += lanes {
		var idx [lanes]uintptr
		for range fl.depth {
			for k := range lanes {
				nd := (*fullNode)(unsafe.Add(np, (uintptr((t+k)*in)+idx[k])*unsafe.Sizeof(fullNode{})))
				xv := *(*float64)(unsafe.Add(xp, uintptr(nd.feature)*8))
				idx[k] = 2*idx[k] + 1 + uintptr(b2i(xv > nd.thresh))
			}
		}
		for k := range lanes {
			sum += *(*float64)(unsafe.Add(lp, (uintptr((t+k)*(in+1))+idx[k]-uintptr(in))*8))
		}
	}
	for ; t < trees; t++ {
		tn := fl.nodes[t*in : (t+1)*in]
		i := 0
		for range fl.depth {
			nd := tn[i]
			i = 2*i + 1 + b2i(x[nd.feature] > nd.thresh)
		}
		sum += fl.leaves[t*(in+1)+i-in]
	}
	return sum
}

// blockSums adds, for rows [s,e) of X, each row's path lengths over all trees into sums, tree by
// tree so a tree stays in L1 while it judges the block, lanes rows at a time.
func (fl *full) blockSums(X Matrix, s, e, trees int, sums []float64) {
	in := fl.internal
	d := X.Cols
	data := X.Data
	for t := range trees {
		nodes := fl.nodes[t*in : (t+1)*in]
		leaves := fl.leaves[t*(in+1) : (t+1)*(in+1)]
		np := unsafe.Pointer(unsafe.SliceData(nodes))
		r := s
		for ; r+lanes <= e; r += lanes {
			var idx [lanes]uintptr
			var rows [lanes]unsafe.Pointer
			for k := range lanes {
				rows[k] = unsafe.Pointer(&data[(r+k)*d])
			}
			for range fl.depth {
				for k := range lanes {
					nd := (*fullNode)(unsafe.Add(np, idx[k]*unsafe.Sizeof(fullNode{})))
					xv := *(*float64)(unsafe.Add(rows[k], uintptr(nd.feature)*8))
					idx[k] = 2*idx[k] + 1 + uintptr(b2i(xv > nd.thresh))
				}
			}
			for k := range lanes {
				sums[r-s+k] += leaves[int(idx[k])-in]
			}
		}
		for ; r < e; r++ {
			x := data[r*d : r*d+d]
			i := 0
			for range fl.depth {
				nd := nodes[i]
				i = 2*i + 1 + b2i(x[nd.feature] > nd.thresh)
			}
			sums[r-s] += leaves[i-in]
		}
	}
}
