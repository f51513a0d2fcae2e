package iforest

import (
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mathext/prng"
)

// The block generator is gonum's MT19937 (the reference mt19937ar) word for word, across
// several state regenerations, for seeds at the edges of numpy's range.
func TestRandomStateIsMT19937(t *testing.T) {
	for _, seed := range []uint32{0, 1, 42, 5489, 1<<31 - 2, 1<<32 - 1} {
		ref := prng.NewMT19937()
		ref.Seed(uint64(seed))
		r := newRandomState(seed)
		for i := range 5 * mtN {
			require.Equal(t, ref.Uint32(), r.uint32(), "seed %d word %d", seed, i)
		}
	}
}

// numpy 1.24: np.random.RandomState(0).randint(2**31 - 1, size=3) and
// np.random.RandomState(0).permutation(10).
func TestRandomStateNumpyDraws(t *testing.T) {
	require.Equal(t, []uint32{2357136044, 2546248239, 3071714933}, func() []uint32 {
		r := newRandomState(0)
		return []uint32{r.uint32(), r.uint32(), r.uint32()}
	}(), "MT19937 seed 0, the first words numpy's RandomState(0) draws")
	require.Equal(t, []uint32{209652396, 398764591, 924231285}, treeSeeds(0, 3))
	p := make([]int32, 10)
	newRandomState(0).permutation(p)
	require.Equal(t, []int32{2, 8, 4, 9, 1, 6, 7, 3, 0, 5}, p)
}

func BenchmarkPermutation20000(b *testing.B) {
	p := make([]int32, 20000)
	r := newRandomState(1)
	for b.Loop() {
		r.permutation(p)
	}
}
