package iforest

import "math"

// The byte layout: the scoring layout for the usual case, ψ <= 256 (height limit <= 8) and at
// most 256 features. Every tree is padded to a complete binary tree of depth 8 in 1-based heap
// order: the root is node 1, node m's children are 2m and 2m+1, internal nodes are 1..255 and
// leaves 256..511, so m fits a uint8 until the last step and the leaf slot is uint8(m). A leaf
// shallower than 8 becomes pass-through nodes (always left; both subtrees filled alike) and its
// path length depth + c(size) is copied to every bottom slot beneath it, so every walk is exactly
// 8 branch-free steps.
//
// The tree is stored mirrored: child 2m+1 is the split's left side (x <= t) and 2m its right
// side (x > t). Values are compared as keys, uint64s in the same order as the float64s (see key),
// and a node keeps up = key(the next float64 above t): for every float64 x, x > t is exactly
// key(x) >= up, so a step is m = 2m + [key(x) < up], the carry of one unsigned compare. The amd64
// kernel's step (fast_amd64.s) is a feature load, a key load, a compare and an ADC. Features are
// uint8 and a row is a [256]uint64, so every index is in bounds by construction. The thresholds
// keep all their float64 bits: scores are exactly those of the general layout.
const (
	byteDepth = 8
	byteSlots = 1 << byteDepth // 256
	browLen   = byteSlots + 8  // a brow in uint64s
	btreeSize = byteSlots * 17 // a btree in bytes: feat 256 + up 2048 + leaf 2048
)

// btree is one tree of the byte layout. fast_amd64.s relies on the field order and sizes.
type btree struct {
	feat [byteSlots]uint8   // internal node m's feature (slot 0 unused)
	up   [byteSlots]uint64  // key of node m's threshold raised to the next float64; all ones: pass-through
	leaf [byteSlots]float64 // path length at leaf 256+j, slot j
}

// bweights are the bits of isolation each edge of a byte-layout tree buys (Shares): w[c] is
// log2(size of the parent / size of child c) for heap child c (2..511), 0 below a pass-through.
type bweights struct {
	w [2 * byteSlots]float32
}

// brow is one row's values indexed by feature, padded so that consecutive rows of a block do not
// fall on the same cache sets (a 2 KB stride would).
type brow struct {
	v [byteSlots]uint64 // key(value) of each feature
	_ [browLen - byteSlots]uint64
}

// setRow stores x's keys in b.
func (b *brow) set(x []float64) {
	for j, v := range x {
		b.v[j] = key(v)
	}
}

// key maps float64 to uint64 keeping the order, -0 as +0 and NaN below everything: for a node's
// up (never NaN), x >= up is exactly key(x) >= key(up), and NaN goes left.
func key(v float64) uint64 {
	v += 0 // -0 + 0 is +0
	b := math.Float64bits(v)
	k := b ^ (uint64(int64(b)>>63) | 1<<63) // negative: all bits flipped; positive: sign bit set
	if v != v {
		k = 0
	}
	return k
}

// passThrough is the up of a pass-through node: every key is below it.
const passThrough = ^uint64(0)

// buildBytes fills f.bytes when ψ and the feature count allow; nil otherwise.
func (f *Forest) buildBytes() {
	f.bytes = nil
	if f.SampleSize > byteSlots || f.NumFeat > byteSlots || len(f.Roots) == 0 {
		return
	}
	ts := make([]btree, len(f.Roots))
	ws := make([]bweights, len(f.Roots))
	for t, r := range f.Roots {
		bt, bw := &ts[t], &ws[t]
		bt.up[0] = passThrough
		// fill places general node g at heap node m of depth k.
		var fill func(g int32, m, k int) bool
		fill = func(g int32, m, k int) bool {
			if k == byteDepth {
				if f.Feature[g] >= 0 {
					return false // a split below the height limit: not this layout
				}
				bt.leaf[m-byteSlots] = f.Thresh[g]
				return true
			}
			if f.Feature[g] < 0 {
				bt.up[m] = passThrough
				return fill(g, 2*m+1, k+1) && fill(g, 2*m, k+1)
			}
			bt.feat[m], bt.up[m] = uint8(f.Feature[g]), key(math.Nextafter(f.Thresh[g], math.Inf(1)))
			bw.w[2*m+1], bw.w[2*m] = f.wl[g], f.wr[g] // mirrored: 2m+1 is the left side
			return fill(f.Left[g], 2*m+1, k+1) && fill(f.Right[g], 2*m, k+1)
		}
		if !fill(r, 1, 0) {
			return
		}
	}
	f.bytes, f.bweights = ts, ws
}

// bstep is one step down a byte-layout tree: from internal node m (1..127) to its child.
func bstep(t *btree, x *brow, m uint8) uint8 {
	return 2*m + uint8(b2i(x.v[t.feat[m]] < t.up[m]))
}

// bleaf is the last step: from a bottom internal node m (128..255) to the leaf's path length.
func bleaf(t *btree, x *brow, m uint8) float64 {
	return t.leaf[2*m+uint8(b2i(x.v[t.feat[m]] < t.up[m]))]
}

// bytesRow adds x's path length in every tree to *sum, in tree order.
func bytesRow(ts []btree, x *brow, sum *float64) {
	s := *sum
	for t := range ts {
		i := uint8(1)
		for range byteDepth - 1 {
			i = bstep(&ts[t], x, i)
		}
		s += bleaf(&ts[t], x, i)
	}
	*sum = s
}

// bytesBlock adds each of rows' path lengths over all trees into sums (len(sums) = len(rows)),
// per row in tree order (as bytesPath), so a row scores the same alone or in a batch. Groups of
// groupRows rows go to bytesGroups (the amd64 kernel where there is one); the rest row by row.
func bytesBlock(ts []btree, rows []brow, sums []float64) {
	n := len(rows)
	g := n / groupRows * groupRows
	if g > 0 {
		bytesGroups(ts, rows[:g], sums[:g])
	}
	for r := g; r < n; r++ {
		bytesRow(ts, &rows[r], &sums[r])
	}
}

// bytesGroupsGo is bytesGroups in Go: tree by tree, so a tree stays in L1 while it judges the
// rows, eight rows' walks advanced together so their chains of dependent loads overlap.
func bytesGroupsGo(ts []btree, rows []brow, sums []float64) {
	for t := range ts {
		tr := &ts[t]
		r := 0
		for ; r+8 <= len(rows); r += 8 {
			x := (*[8]brow)(rows[r : r+8])
			var i0, i1, i2, i3, i4, i5, i6, i7 uint8 = 1, 1, 1, 1, 1, 1, 1, 1
			for range byteDepth - 1 {
				i0 = bstep(tr, &x[0], i0)
				i1 = bstep(tr, &x[1], i1)
				i2 = bstep(tr, &x[2], i2)
				i3 = bstep(tr, &x[3], i3)
				i4 = bstep(tr, &x[4], i4)
				i5 = bstep(tr, &x[5], i5)
				i6 = bstep(tr, &x[6], i6)
				i7 = bstep(tr, &x[7], i7)
			}
			s := (*[8]float64)(sums[r : r+8])
			s[0] += bleaf(tr, &x[0], i0)
			s[1] += bleaf(tr, &x[1], i1)
			s[2] += bleaf(tr, &x[2], i2)
			s[3] += bleaf(tr, &x[3], i3)
			s[4] += bleaf(tr, &x[4], i4)
			s[5] += bleaf(tr, &x[5], i5)
			s[6] += bleaf(tr, &x[6], i6)
			s[7] += bleaf(tr, &x[7], i7)
		}
		for ; r < len(rows); r++ {
			m := uint8(1)
			for range byteDepth - 1 {
				m = bstep(tr, &rows[r], m)
			}
			sums[r] += bleaf(tr, &rows[r], m)
		}
	}
}

// bytesPath is Σ over trees of x's path length; eight trees are walked at once so their chains
// of dependent loads overlap, and the sum is taken in tree order.
func bytesPath(ts []btree, x *brow) float64 {
	var sum float64
	t := 0
	for ; t+8 <= len(ts); t += 8 {
		g := (*[8]btree)(ts[t : t+8])
		var i0, i1, i2, i3, i4, i5, i6, i7 uint8 = 1, 1, 1, 1, 1, 1, 1, 1
		for range byteDepth - 1 {
			i0 = bstep(&g[0], x, i0)
			i1 = bstep(&g[1], x, i1)
			i2 = bstep(&g[2], x, i2)
			i3 = bstep(&g[3], x, i3)
			i4 = bstep(&g[4], x, i4)
			i5 = bstep(&g[5], x, i5)
			i6 = bstep(&g[6], x, i6)
			i7 = bstep(&g[7], x, i7)
		}
		sum += bleaf(&g[0], x, i0)
		sum += bleaf(&g[1], x, i1)
		sum += bleaf(&g[2], x, i2)
		sum += bleaf(&g[3], x, i3)
		sum += bleaf(&g[4], x, i4)
		sum += bleaf(&g[5], x, i5)
		sum += bleaf(&g[6], x, i6)
		sum += bleaf(&g[7], x, i7)
	}
	bytesRow(ts[t:], x, &sum)
	return sum
}

// bytesExplain is bytesPath and Forest.Shares in one walk of the byte layout: it returns the sum
// of x's path lengths and adds to out[j] the bits each split on feature j bought along x's paths
// (total: all of them). Eight trees' paths are found at once, so their chains of dependent loads
// overlap, then added up tree by tree and root to leaf: the sums are bit for bit those of
// bytesPath and of the general layout's Shares (a pass-through edge adds +0 to out[0]).
func bytesExplain(ts []btree, ws []bweights, x *brow, out []float64) (sum, total float64) {
	var path [8][byteDepth + 1]uint16
	for t := 0; t < len(ts); t += 8 {
		k := min(8, len(ts)-t)
		for j := range k {
			path[j][0] = 1
		}
		for d := range byteDepth {
			for j := range k {
				tr, m := &ts[t+j], path[j][d]
				path[j][d+1] = 2*m + uint16(b2i(x.v[tr.feat[m]] < tr.up[m]))
			}
		}
		for j := range k {
			tr, w := &ts[t+j], &ws[t+j]
			for d := range byteDepth {
				wt := float64(w.w[path[j][d+1]])
				out[tr.feat[path[j][d]]] += wt
				total += wt
			}
			sum += tr.leaf[path[j][byteDepth]-byteSlots]
		}
	}
	return sum, total
}
