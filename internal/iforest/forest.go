// Package iforest is an Isolation Forest (Liu, Ting & Zhou, ICDM 2008) in plain Go: fit on a
// subsample per tree, score s(x) = 2^(-E[h(x)]/c(ψ)), explain each score per feature, and save a
// self-describing model file. It knows nothing of Benthos; processors/iforest adapts it.
//
// Trees are stored forest-wide as a struct of arrays (feature, threshold, left, right, size): what
// the model file holds and the explanation walks. A leaf keeps its path length depth + c(size) in
// its threshold slot. For scoring the trees are laid out again as complete trees of flat arrays:
// the byte layout (fast.go, with an amd64 kernel) when ψ <= 256 and features <= 256, else the
// complete layout (layout.go) or the breadth-first one; all give exactly the same scores.
package iforest

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sort"
	"sync"
)

// Params are the knobs of a forest.
type Params struct {
	Trees         int     `json:"trees"`         // number of trees (100)
	SampleSize    int     `json:"sample_size"`   // ψ, rows drawn without replacement per tree (256)
	MaxFeatures   float64 `json:"max_features"`  // fraction (0,1] of features each tree may split on (1 = all)
	Contamination float64 `json:"contamination"` // expected outlier share of the training data; 0 = auto (threshold 0.5)
	Seed          uint64  `json:"seed"`          // random_state: 0..2^32-1; the forest is scikit-learn's for the same seed
	Workers       int     `json:"-"`             // goroutines for fit and score; 0 = GOMAXPROCS
}

// DefaultParams are the paper's (and scikit-learn's) defaults.
func DefaultParams() Params {
	return Params{Trees: 100, SampleSize: 256, MaxFeatures: 1, Seed: 1}
}

// Validate reports the first invalid parameter.
func (p Params) Validate() error {
	switch {
	case p.Trees < 1 || p.Trees > 100000:
		return fmt.Errorf("trees must be 1..100000, got %d", p.Trees)
	case p.SampleSize < 2 || p.SampleSize > 1<<24:
		return fmt.Errorf("sample_size must be 2..%d, got %d", 1<<24, p.SampleSize)
	case !(p.MaxFeatures > 0 && p.MaxFeatures <= 1):
		return fmt.Errorf("max_features must be in (0,1], got %v", p.MaxFeatures)
	case !(p.Contamination >= 0 && p.Contamination < 0.5):
		return fmt.Errorf("contamination must be in [0,0.5), got %v", p.Contamination)
	case p.Seed > math.MaxUint32:
		return fmt.Errorf("seed must be 0..%d (a numpy RandomState seed), got %d", uint64(math.MaxUint32), p.Seed)
	}
	return nil
}

// Matrix is a dense row-major table of float64.
type Matrix struct {
	Rows, Cols int
	Data       []float64
}

// Row returns row i (shares memory).
func (m Matrix) Row(i int) []float64 { return m.Data[i*m.Cols : (i+1)*m.Cols] }

// Forest is a fitted Isolation Forest.
type Forest struct {
	Params     Params
	NumFeat    int     // features per row
	SampleSize int     // ψ actually used: min(Params.SampleSize, training rows)
	Threshold  float64 // anomaly scores >= Threshold are outliers

	// Nodes of every tree, forest-wide indices. Feature -1 marks a leaf; a leaf's Thresh holds
	// its path length depth + c(size).
	Feature []int32
	Thresh  []float64
	Left    []int32
	Right   []int32
	Size    []int32 // training rows that reached the node
	Roots   []int32 // root node of each tree

	cpsi     float64    // c(SampleSize)
	packed   []node     // the scoring layout, see pack
	proots   []int32    // root of each tree in packed
	full     *full      // the complete-tree layout, when the height limit allows
	bytes    []btree    // the byte layout, when ψ <= 256 and features <= 256 (see fast.go)
	bweights []bweights // the bits each edge of the byte layout buys, for Shares
	wl, wr   []float32  // log2(size/size of the left or right child): the bits a split buys
}

// node is one node of the scoring layout: 16 bytes, four to a cache line, the two children of a
// split side by side (right = left+1), so one visit touches one cache line.
type node struct {
	thresh  float64 // split threshold, or the leaf's path length
	feature int32   // -1 at a leaf
	left    int32
}

// ErrNoData says there is nothing to fit on.
var ErrNoData = errors.New("no training rows")

const eulerGamma = 0.5772156649015329

// C is c(n), the average path length of an unsuccessful binary-search-tree search among n points:
// the correction added at a leaf holding n training points.
func C(n int) float64 {
	switch {
	case n <= 1:
		return 0
	case n == 2:
		return 1
	}
	nf := float64(n)
	return 2*(math.Log(nf-1)+eulerGamma) - 2*(nf-1)/nf
}

func (p Params) workers() int {
	if p.Workers > 0 {
		return p.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// tree is one tree under construction, local indices.
type tree struct {
	feature []int32
	thresh  []float64
	left    []int32
	right   []int32
	size    []int32
}

// Fit grows a forest on X. Rows with NaN or Inf are the caller's to clean; they are refused.
func Fit(X Matrix, p Params) (*Forest, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if X.Rows < 1 || X.Cols < 1 {
		return nil, ErrNoData
	}
	if len(X.Data) != X.Rows*X.Cols {
		return nil, fmt.Errorf("matrix has %d values, want %d×%d", len(X.Data), X.Rows, X.Cols)
	}
	for i, v := range X.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("row %d column %d is not finite (%v)", i/X.Cols, i%X.Cols, v)
		}
	}
	psi := min(p.SampleSize, X.Rows)
	limit := 0
	if psi > 1 {
		limit = bits.Len(uint(psi - 1)) // ceil(log2 ψ)
	}
	// The forest is grown on the float32 rounding of X, as scikit-learn grows it.
	x32 := make([]float32, len(X.Data))
	for i, v := range X.Data {
		x32[i] = float32(v)
	}
	seeds := treeSeeds(uint32(p.Seed), p.Trees)
	trees := make([]tree, p.Trees)
	w := min(p.workers(), p.Trees)
	var wg sync.WaitGroup
	next := make(chan int, p.Trees)
	for i := range p.Trees {
		next <- i
	}
	close(next)
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := newBuilder(X, x32, psi, limit, p.MaxFeatures)
			for i := range next {
				trees[i] = b.build(seeds[i])
			}
		}()
	}
	wg.Wait()

	f := &Forest{Params: p, NumFeat: X.Cols, SampleSize: psi}
	f.assemble(trees)
	f.Threshold = 0.5
	if p.Contamination > 0 {
		s := f.ScoreAll(X, 0)
		f.Threshold = ThresholdFor(s, p.Contamination)
	}
	return f, nil
}

// ThresholdFor returns the score above which a share contamination of scores lies.
func ThresholdFor(scores []float64, contamination float64) float64 {
	if len(scores) == 0 {
		return 0.5
	}
	s := append([]float64(nil), scores...)
	sort.Float64s(s)
	return Quantile(s, 1-contamination)
}

// Quantile of sorted s at q in [0,1], linear interpolation (numpy's default).
func Quantile(s []float64, q float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	fr := pos - float64(lo)
	return s[lo] + fr*(s[hi]-s[lo])
}

// assemble concatenates the trees into the forest-wide arrays and derives leaf path lengths.
func (f *Forest) assemble(trees []tree) {
	total := 0
	for _, t := range trees {
		total += len(t.feature)
	}
	f.Feature = make([]int32, 0, total)
	f.Thresh = make([]float64, 0, total)
	f.Left = make([]int32, 0, total)
	f.Right = make([]int32, 0, total)
	f.Size = make([]int32, 0, total)
	f.Roots = make([]int32, 0, len(trees))
	for _, t := range trees {
		off := int32(len(f.Feature))
		f.Roots = append(f.Roots, off)
		f.Feature = append(f.Feature, t.feature...)
		f.Thresh = append(f.Thresh, t.thresh...)
		f.Size = append(f.Size, t.size...)
		for i := range t.left {
			l, r := t.left[i], t.right[i]
			if t.feature[i] >= 0 {
				l, r = l+off, r+off
			}
			f.Left = append(f.Left, l)
			f.Right = append(f.Right, r)
		}
	}
	f.finish()
}

// finish sets each leaf's path length from its depth and size; nodes are stored parents first.
func (f *Forest) finish() {
	f.cpsi = C(f.SampleSize)
	depth := make([]int32, len(f.Feature))
	f.wl = make([]float32, len(f.Feature))
	f.wr = make([]float32, len(f.Feature))
	for i := range f.Feature {
		if f.Feature[i] >= 0 {
			f.wl[i] = float32(math.Log2(float64(f.Size[i]) / float64(f.Size[f.Left[i]])))
			f.wr[i] = float32(math.Log2(float64(f.Size[i]) / float64(f.Size[f.Right[i]])))
			depth[f.Left[i]] = depth[i] + 1
			depth[f.Right[i]] = depth[i] + 1
			continue
		}
		f.Thresh[i] = float64(depth[i]) + C(int(f.Size[i]))
	}
	f.pack()
	f.buildFull()
	f.buildBytes()
}

// pack lays every tree out breadth first with siblings adjacent, for scoring.
func (f *Forest) pack() {
	f.packed = make([]node, 0, len(f.Feature))
	f.proots = make([]int32, 0, len(f.Roots))
	var queue []int32
	for _, r := range f.Roots {
		base := int32(len(f.packed))
		f.proots = append(f.proots, base)
		f.packed = append(f.packed, node{})
		queue = append(queue[:0], r)
		for k := 0; k < len(queue); k++ {
			g := queue[k]
			at := base + int32(k)
			if f.Feature[g] < 0 {
				f.packed[at] = node{thresh: f.Thresh[g], feature: -1}
				continue
			}
			l := int32(len(f.packed))
			f.packed = append(f.packed, node{}, node{})
			f.packed[at] = node{thresh: f.Thresh[g], feature: f.Feature[g], left: l}
			queue = append(queue, f.Left[g], f.Right[g])
		}
	}
}

// builder grows trees for one goroutine, reusing its buffers. It follows scikit-learn 1.2's
// IsolationForest step for step (BaseBagging, ExtraTreeRegressor(max_features=1,
// splitter="random"), DepthFirstTreeBuilder, RandomSplitter), draws included: see skrand.go.
type builder struct {
	X      Matrix
	x32    []float32 // X rounded to float32
	psi    int
	limit  int     // max_depth: ceil(log2 ψ)
	nfeat  int     // features per tree: max(1, int(max_features × d))
	idx    []int32 // the tree's rows
	sub    []int32 // the tree's features: tree feature j is column sub[j]
	feats  []int32 // the splitter's feature order, kept across the nodes of a tree
	consts []int32 // the splitter's constant_features
	perm   []int32
	seen   []uint64
	stack  []span
}

type span struct {
	node, lo, hi, depth, consts int
}

func newBuilder(X Matrix, x32 []float32, psi, limit int, maxFeatures float64) *builder {
	nf := max(1, min(int(maxFeatures*float64(X.Cols)), X.Cols))
	n := max(X.Rows, X.Cols)
	return &builder{X: X, x32: x32, psi: psi, limit: limit, nfeat: nf,
		idx: make([]int32, psi), sub: make([]int32, nf), feats: make([]int32, nf), consts: make([]int32, nf),
		perm: make([]int32, n), seen: make([]uint64, (n+63)/64)}
}

func (b *builder) build(seed uint32) tree {
	// _set_random_states: the tree's random_state, from a RandomState of the tree's seed.
	treeSeed := newRandomState(seed).intn(maxInt32)
	// _generate_bagging_indices: features, then rows, from a fresh RandomState of the same seed.
	rs := newRandomState(seed)
	rs.sampleWithoutReplacement(b.X.Cols, b.nfeat, b.sub, b.perm, b.seen)
	rs.sampleWithoutReplacement(b.X.Rows, b.psi, b.idx, b.perm, b.seen)
	// Splitter.init: the xorshift state, from a RandomState of the tree's random_state.
	st := randR(newRandomState(uint32(treeSeed)).intn(randRMax))
	for i := range b.feats {
		b.feats[i] = int32(i)
	}

	n := 2*b.psi - 1
	t := tree{feature: make([]int32, 1, n), thresh: make([]float64, 1, n),
		left: make([]int32, 1, n), right: make([]int32, 1, n), size: make([]int32, 1, n)}
	b.stack = append(b.stack[:0], span{0, 0, b.psi, 0, 0})
	for len(b.stack) > 0 {
		s := b.stack[len(b.stack)-1]
		b.stack = b.stack[:len(b.stack)-1]
		cnt := s.hi - s.lo
		t.size[s.node] = int32(cnt)
		t.feature[s.node] = -1
		if cnt < 2 || s.depth >= b.limit {
			continue
		}
		feat, thr, pos, consts := b.split(&st, s)
		if pos >= s.hi {
			continue // every feature constant here: a leaf
		}
		l := int32(len(t.feature))
		t.feature = append(t.feature, -1, -1)
		t.thresh = append(t.thresh, 0, 0)
		t.left = append(t.left, 0, 0)
		t.right = append(t.right, 0, 0)
		t.size = append(t.size, 0, 0)
		t.feature[s.node] = b.sub[feat]
		t.thresh[s.node] = float32Boundary(thr)
		t.left[s.node] = l
		t.right[s.node] = l + 1
		// Depth first, left child first: the order scikit-learn consumes its draws in.
		b.stack = append(b.stack, span{int(l) + 1, pos, s.hi, s.depth + 1, consts},
			span{int(l), s.lo, pos, s.depth + 1, consts})
	}
	return t
}

// split is RandomSplitter.node_split with max_features=1: draw features (Fisher-Yates over the
// splitter's feature order, skipping and remembering constant ones) until one is not constant in
// the node, draw its threshold uniformly in [min,max), and partition idx[lo:hi] on x <= thr. It
// returns the tree feature, the threshold, the partition point (hi when no split) and the
// constant-feature count for the children.
func (b *builder) split(st *randR, s span) (feat int32, thr float64, pos, consts int) {
	d := b.X.Cols
	fi, found, drawn, known := len(b.feats), 0, 0, s.consts
	total, visited := known, 0
	pos = s.hi
	for fi > total && (visited < 1 || visited <= found+drawn) {
		visited++
		fj := st.intRange(drawn, fi-found)
		if fj < known {
			b.feats[drawn], b.feats[fj] = b.feats[fj], b.feats[drawn]
			drawn++
			continue
		}
		fj += found
		f := b.feats[fj]
		col := int(b.sub[f])
		mn, mx := b.x32[int(b.idx[s.lo])*d+col], b.x32[int(b.idx[s.lo])*d+col]
		for _, r := range b.idx[s.lo+1 : s.hi] {
			v := b.x32[int(r)*d+col]
			mn = min(mn, v)
			mx = max(mx, v)
		}
		if mx <= mn+float32(1e-7) { // FEATURE_THRESHOLD, in float32 as scikit-learn compares
			b.feats[fj], b.feats[total] = b.feats[total], f
			found++
			total++
			continue
		}
		fi--
		b.feats[fi], b.feats[fj] = b.feats[fj], b.feats[fi]
		t := st.uniform(float64(mn), float64(mx))
		if t == float64(mx) {
			t = float64(mn)
		}
		i, j := s.lo, s.hi
		for i < j {
			if float64(b.x32[int(b.idx[i])*d+col]) <= t {
				i++
			} else {
				j--
				b.idx[i], b.idx[j] = b.idx[j], b.idx[i]
			}
		}
		if i == s.lo || i == s.hi {
			continue // min_samples_leaf=1 not met (cannot happen with t in [min,max))
		}
		feat, thr, pos = f, t, i
	}
	copy(b.feats[:known], b.consts[:known])
	copy(b.consts[known:known+found], b.feats[known:known+found])
	return feat, thr, pos, total
}

// PathLength returns E[h(x)], the mean path length of x over the trees.
func (f *Forest) PathLength(x []float64) float64 {
	if f.bytes != nil {
		var b brow
		b.set(x[:f.NumFeat])
		return bytesPath(f.bytes, &b) / float64(len(f.Roots))
	}
	if f.full != nil {
		return f.full.pathSum(x, len(f.Roots)) / float64(len(f.Roots))
	}
	nodes := f.packed
	var sum float64
	for _, n := range f.proots {
		for {
			nd := &nodes[n]
			if nd.feature < 0 {
				sum += nd.thresh
				break
			}
			n = nd.left
			if x[nd.feature] > nd.thresh {
				n++
			}
		}
	}
	return sum / float64(len(f.proots))
}

// scoreRange scores rows [lo,hi) of X into out.
func (f *Forest) scoreRange(X Matrix, out []float64, lo, hi int) {
	if f.bytes != nil {
		f.scoreRangeBytes(X, out, lo, hi)
		return
	}
	var sums [blockCols]float64
	var col []float64
	if f.full != nil {
		col = make([]float64, X.Cols*blockCols)
	}
	for s := lo; s < hi; s += blockCols {
		e := min(s+blockCols, hi)
		sums = [blockCols]float64{}
		if f.full != nil {
			for r := s; r < e; r++ {
				for j, v := range X.Data[r*X.Cols : (r+1)*X.Cols] {
					col[j*blockCols+r-s] = v
				}
			}
			f.full.blockSums(col, e-s, len(f.Roots), sums[:])
		} else {
			f.scoreBlockPacked(X, s, e, sums[:])
		}
		for i := s; i < e; i++ {
			out[i] = f.scoreOf(sums[i-s] / float64(len(f.proots)))
		}
	}
}

// browBlock is the number of rows scoreRangeBytes takes at a time.
const browBlock = 8 * groupRows

var browPool = sync.Pool{New: func() any { return new([browBlock]brow) }}

func (f *Forest) scoreRangeBytes(X Matrix, out []float64, lo, hi int) {
	rows := browPool.Get().(*[browBlock]brow)
	defer browPool.Put(rows)
	var sums [browBlock]float64
	d := X.Cols
	for s := lo; s < hi; s += browBlock {
		e := min(s+browBlock, hi)
		for r := s; r < e; r++ {
			rows[r-s].set(X.Data[r*d : (r+1)*d])
		}
		sums = [browBlock]float64{}
		bytesBlock(f.bytes, rows[:e-s], sums[:e-s])
		for i := s; i < e; i++ {
			out[i] = f.scoreOf(sums[i-s] / float64(len(f.Roots)))
		}
	}
}

func (f *Forest) scoreBlockPacked(X Matrix, s, e int, sums []float64) {
	nodes := f.packed
	d := X.Cols
	for _, r := range f.proots {
		for i := s; i < e; i++ {
			x := X.Data[i*d : i*d+d]
			n := r
			for {
				nd := &nodes[n]
				if nd.feature < 0 {
					sums[i-s] += nd.thresh
					break
				}
				n = nd.left
				if x[nd.feature] > nd.thresh {
					n++
				}
			}
		}
	}
}

func (f *Forest) scoreOf(pathLen float64) float64 {
	if f.cpsi == 0 {
		return 0.5
	}
	return math.Exp2(-pathLen / f.cpsi)
}

// Score returns s(x) = 2^(-E[h(x)]/c(ψ)) in (0,1]: near 1 is an outlier, well below 0.5 is normal.
// x must have NumFeat values; it is not modified and Score is safe for concurrent use.
func (f *Forest) Score(x []float64) float64 {
	return f.scoreOf(f.PathLength(x))
}

// ScoreAll scores every row of X using workers goroutines (0 = Params.Workers, then GOMAXPROCS).
func (f *Forest) ScoreAll(X Matrix, workers int) []float64 {
	out := make([]float64, X.Rows)
	f.ScoreInto(X, out, workers)
	return out
}

// ScoreInto scores every row of X into out.
func (f *Forest) ScoreInto(X Matrix, out []float64, workers int) {
	if workers <= 0 {
		workers = f.Params.workers()
	}
	const chunk = 1024
	if workers == 1 || X.Rows <= chunk {
		f.scoreRange(X, out, 0, X.Rows)
		return
	}
	var wg sync.WaitGroup
	next := make(chan int, (X.Rows+chunk-1)/chunk)
	for s := 0; s < X.Rows; s += chunk {
		next <- s
	}
	close(next)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range next {
				f.scoreRange(X, out, s, min(s+chunk, X.Rows))
			}
		}()
	}
	wg.Wait()
}

// Shares returns each feature's share in isolating x, summing to 1 (all zero when no split was
// taken). Along x's path in each tree, a split on feature j that sends x from a node holding n
// training rows to a child holding m rows adds log2(n/m) to j: the bits of isolation that split
// bought. A split that leaves x with the crowd adds almost nothing; the split that cuts x off adds
// the most. Summed over a path this is log2(ψ/leaf size), so the shares split the isolation
// achieved.
func (f *Forest) Shares(x []float64) []float64 {
	_, sh := f.PathShares(x)
	return sh
}

// PathShares returns E[h(x)] (as PathLength) and the shares (as Shares) from one walk.
func (f *Forest) PathShares(x []float64) (float64, []float64) {
	out := make([]float64, f.NumFeat)
	var sum, total float64
	if f.bytes != nil {
		var b brow
		b.set(x[:f.NumFeat])
		sum, total = bytesExplain(f.bytes, f.bweights, &b, out)
	} else {
		feature, thresh, left, right := f.Feature, f.Thresh, f.Left, f.Right
		for _, n := range f.Roots {
			for {
				ft := feature[n]
				if ft < 0 {
					sum += thresh[n]
					break
				}
				var w float64
				if x[ft] <= thresh[n] {
					w, n = float64(f.wl[n]), left[n]
				} else {
					w, n = float64(f.wr[n]), right[n]
				}
				out[ft] += w
				total += w
			}
		}
	}
	if total > 0 {
		for i := range out {
			out[i] /= total
		}
	}
	return sum / float64(len(f.Roots)), out
}

// Nodes returns the number of nodes in the forest.
func (f *Forest) Nodes() int { return len(f.Feature) }
