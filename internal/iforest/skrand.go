package iforest

import "math"

// The random draws of scikit-learn 1.2's IsolationForest, so that a forest grown here for seed s
// is the forest scikit-learn grows for random_state=s: same rows per tree, same split features,
// same thresholds (compat_test.go checks it against scikit-learn itself when it is installed).
// scikit-learn draws from numpy's legacy RandomState (MT19937) for the per-tree seeds and the
// row subsample, and from a 32-bit xorshift (sklearn/tree/_utils.pyx our_rand_r) inside a tree.

// maxInt32 is numpy's iinfo(int32).max, the bound of the per-tree seeds.
const maxInt32 = 1<<31 - 1

// randRMax is RAND_R_MAX in sklearn/tree/_utils.pxd.
const randRMax = 0x7FFFFFFF

// randomState is the part of numpy's legacy RandomState that scikit-learn's forest uses, over an
// MT19937 (Matsumoto & Nishimura's mt19937ar) that regenerates its state a block at a time and
// tempers in an inlined call: a fit draws one word per training row per tree (numpy's
// permutation), which gonum's one-call-per-word generator made 10x the rest of the fit.
// skrand_test.go checks it word for word against gonum's mathext/prng.MT19937.
type randomState struct {
	mt [mtN]uint32
	i  int
}

const (
	mtN = 624
	mtM = 397
)

// newRandomState seeds like numpy's RandomState(seed) for an integer seed (init_genrand).
func newRandomState(seed uint32) *randomState {
	r := &randomState{i: mtN}
	r.mt[0] = seed
	for i := 1; i < mtN; i++ {
		r.mt[i] = 1812433253*(r.mt[i-1]^(r.mt[i-1]>>30)) + uint32(i)
	}
	return r
}

// regen is kept out of line so that uint32 inlines into its callers.
//
//go:noinline
func (r *randomState) regen() {
	mt := &r.mt
	k := 0
	for ; k < mtN-mtM; k++ {
		y := mt[k]&0x80000000 | mt[k+1]&0x7fffffff
		mt[k] = mt[k+mtM] ^ y>>1 ^ (-(y & 1) & 0x9908b0df)
	}
	for ; k < mtN-1; k++ {
		y := mt[k]&0x80000000 | mt[k+1]&0x7fffffff
		mt[k] = mt[k+mtM-mtN] ^ y>>1 ^ (-(y & 1) & 0x9908b0df)
	}
	y := mt[mtN-1]&0x80000000 | mt[0]&0x7fffffff
	mt[mtN-1] = mt[mtM-1] ^ y>>1 ^ (-(y & 1) & 0x9908b0df)
	r.i = 0
}

// uint32 is genrand_int32.
func (r *randomState) uint32() uint32 {
	if r.i >= mtN {
		r.regen()
	}
	y := r.mt[r.i]
	r.i++
	return temper(y)
}

// temper is MT19937's output tempering.
func temper(y uint32) uint32 {
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	return y ^ y>>18
}

// mask is the smallest all-ones bit mask covering v.
func mask(v uint64) uint64 {
	v |= v >> 1
	v |= v >> 2
	v |= v >> 4
	v |= v >> 8
	v |= v >> 16
	v |= v >> 32
	return v
}

// intn is RandomState.randint(0, n) for 0 < n <= 2^32: numpy's legacy masked rejection over
// 32-bit draws (random_bounded_uint64_fill with use_masked), no draw at all when n == 1.
func (r *randomState) intn(n int) int {
	rng := uint64(n - 1)
	if rng == 0 {
		return 0
	}
	m := mask(rng)
	for {
		if v := uint64(r.uint32()) & m; v <= rng {
			return int(v)
		}
	}
}

// permutation fills p with RandomState.permutation(len(p)): arange, then the legacy shuffle,
// which swaps p[i] with p[random_interval(i)] (masked rejection over 32-bit words) for i from the
// end down to 1. The draw is written out here
// (a fit makes one per training row per tree).
func (r *randomState) permutation(p []int32) {
	for i := range p {
		p[i] = int32(i)
	}
	for i := len(p) - 1; i > 0; i-- {
		m := uint32(mask(uint64(i)))
		var v uint32
		for { // r.uint32 written out: too large to inline
			if r.i >= mtN {
				r.regen()
			}
			y := r.mt[r.i]
			r.i++
			if v = temper(y) & m; v <= uint32(i) {
				break
			}
		}
		p[i], p[v] = p[v], p[i]
	}
}

// sampleWithoutReplacement is sklearn.utils.random.sample_without_replacement(n, k, "auto"):
// k distinct integers of [0,n), drawn the way scikit-learn draws them for these sizes. perm is
// scratch of at least n; the result is written to out[:k].
func (r *randomState) sampleWithoutReplacement(n, k int, out, perm []int32, seen []uint64) {
	ratio := 1.0
	if n != 0 {
		ratio = float64(k) / float64(n)
	}
	switch {
	case ratio > 0.01 && ratio < 0.99:
		r.permutation(perm[:n])
		copy(out[:k], perm[:k])
	case ratio < 0.2: // tracking selection
		clear(seen)
		for i := 0; i < k; i++ {
			j := r.intn(n)
			for seen[j>>6]&(1<<(j&63)) != 0 {
				j = r.intn(n)
			}
			seen[j>>6] |= 1 << (j & 63)
			out[i] = int32(j)
		}
	default: // reservoir sampling
		for i := 0; i < k; i++ {
			out[i] = int32(i)
		}
		for i := k; i < n; i++ {
			if j := r.intn(i + 1); j < k {
				out[j] = int32(i)
			}
		}
	}
}

// treeSeeds are BaseBagging's per-tree seeds: RandomState(seed).randint(MAX_INT, size=trees).
func treeSeeds(seed uint32, trees int) []uint32 {
	r := newRandomState(seed)
	s := make([]uint32, trees)
	for i := range s {
		s[i] = uint32(r.intn(maxInt32))
	}
	return s
}

// randR is our_rand_r of sklearn/tree/_utils.pyx: xorshift32 reduced to [0, RAND_R_MAX].
type randR uint32

func (s *randR) next() uint32 {
	if *s == 0 {
		*s = 1 // DEFAULT_SEED
	}
	x := uint32(*s)
	x ^= x << 13
	x ^= x >> 17
	x ^= x << 5
	*s = randR(x)
	return x % (randRMax + 1)
}

// intRange is rand_int(low, high): low + our_rand_r % (high - low).
func (s *randR) intRange(low, high int) int {
	return low + int(s.next()%uint32(high-low))
}

// uniform is rand_uniform(low, high): ((high - low) * r / RAND_R_MAX) + low, rounded step by step
// as the C code is (the explicit conversions keep Go from fusing the multiply and the add).
func (s *randR) uniform(low, high float64) float64 {
	return float64(float64((high-low)*float64(s.next()))/randRMax) + low
}

// float32Boundary returns the float64 t for which x <= t holds exactly when float32(x) <= thr:
// the tree is grown on the float32 rounding of the data, as scikit-learn grows it, and scored on
// float64 rows without rounding each value.
func float32Boundary(thr float64) float64 {
	t := float32(thr)
	if float64(t) > thr {
		t = math.Nextafter32(t, float32(math.Inf(-1)))
	}
	up := math.Nextafter32(t, float32(math.Inf(1)))
	if math.IsInf(float64(up), 0) || math.IsInf(float64(t), 0) {
		return thr
	}
	mid := (float64(t) + float64(up)) / 2 // exact: a float32 midpoint needs 25 bits
	if math.Float32bits(t)&1 == 0 {
		return mid // a tie rounds to even, here t: mid still goes left
	}
	return math.Nextafter(mid, math.Inf(-1))
}
