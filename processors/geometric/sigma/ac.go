package sigma

// acMatcher is an Aho-Corasick automaton over lowercased literals: one pass over a value finds
// every literal it contains. The alphabet is compressed to the bytes the literals use, and the
// transitions form a full DFA.
type acMatcher struct {
	class  [256]uint16 // byte -> class; 0 = a byte no literal contains
	nclass int
	next   []int32   // state*nclass + class -> state
	out    [][]int32 // state -> literal ids ending here (including by suffix)
}

func newAC(lits []string) *acMatcher {
	a := &acMatcher{nclass: 1}
	for _, l := range lits {
		for i := 0; i < len(l); i++ {
			if a.class[l[i]] == 0 {
				a.class[l[i]] = uint16(a.nclass)
				a.nclass++
			}
		}
	}
	// trie
	trie := [][]int32{make([]int32, a.nclass)}
	a.out = [][]int32{nil}
	for id, l := range lits {
		s := int32(0)
		for i := 0; i < len(l); i++ {
			c := a.class[l[i]]
			if trie[s][c] == 0 {
				trie = append(trie, make([]int32, a.nclass))
				a.out = append(a.out, nil)
				trie[s][c] = int32(len(trie) - 1)
			}
			s = trie[s][c]
		}
		a.out[s] = append(a.out[s], int32(id))
	}
	// BFS: fold failure links into a full DFA
	fail := make([]int32, len(trie))
	queue := []int32{}
	for c := 1; c < a.nclass; c++ {
		if t := trie[0][c]; t != 0 {
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		a.out[s] = append(a.out[s], a.out[fail[s]]...)
		for c := 1; c < a.nclass; c++ {
			t := trie[s][c]
			if t != 0 {
				fail[t] = trie[fail[s]][c]
				queue = append(queue, t)
			} else {
				trie[s][c] = trie[fail[s]][c]
			}
		}
	}
	a.next = make([]int32, len(trie)*a.nclass)
	for s, row := range trie {
		copy(a.next[s*a.nclass:], row)
	}
	return a
}

// scan calls hit for every literal id contained in s (an id may be reported more than once).
func (a *acMatcher) scan(s string, hit func(int32)) {
	st := int32(0)
	n := int32(a.nclass)
	for i := 0; i < len(s); i++ {
		st = a.next[st*n+int32(a.class[s[i]])]
		for _, id := range a.out[st] {
			hit(id)
		}
	}
}
