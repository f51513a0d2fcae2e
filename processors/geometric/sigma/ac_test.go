package sigma

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestACFindsExactlyTheContainedLiterals(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	word := func(n int) string {
		b := make([]byte, 1+r.IntN(n))
		for i := range b {
			b[i] = "abc/-. xy"[r.IntN(9)]
		}
		return string(b)
	}
	for round := 0; round < 200; round++ {
		var lits []string
		for i := 0; i < 1+r.IntN(30); i++ {
			lits = append(lits, word(6))
		}
		ac := newAC(lits)
		for k := 0; k < 20; k++ {
			s := word(40)
			got := map[int32]bool{}
			ac.scan(s, func(id int32) { got[id] = true })
			for id, l := range lits {
				if strings.Contains(s, l) != got[int32(id)] {
					t.Fatalf("literal %q in %q: contains=%v, ac=%v", l, s, strings.Contains(s, l), got[int32(id)])
				}
			}
		}
	}
}
