package window

import (
	"math/rand/v2"
	"testing"
)

// u64set counts what a map counts, through growth, zero, duplicates, merges and reuse.
func TestU64SetMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var s, merged u64set
	for round := 0; round < 60; round++ {
		m := map[uint64]struct{}{}
		mm := map[uint64]struct{}{}
		n := r.IntN(3000)
		for i := 0; i < n; i++ {
			var x uint64
			switch r.IntN(4) {
			case 0:
				x = uint64(r.IntN(50)) // small values, 0 included, many duplicates
			case 1:
				x = uint64(r.IntN(50)) << 40 // equal low bits
			default:
				x = r.Uint64()
			}
			s.add(x)
			m[x] = struct{}{}
			if s.len() != len(m) {
				t.Fatalf("round %d: len %d, map %d", round, s.len(), len(m))
			}
		}
		for x := range m {
			mm[x] = struct{}{}
		}
		merged.addAll(&s)
		merged.addAll(&s)
		if merged.len() != len(mm) {
			t.Fatalf("round %d: merged len %d, map %d", round, merged.len(), len(mm))
		}
		s.reset()
		merged.clear()
		if s.len() != 0 || merged.len() != 0 {
			t.Fatal("reset left values")
		}
	}
}
