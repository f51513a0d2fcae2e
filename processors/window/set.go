package window

// u64set is the set of 64-bit hashes behind a distinct count: open addressing with linear
// probing in a power-of-two table, 0 marking a free slot (a 0 value is kept aside in zero). It
// does only what distinct counts need (add, len, range, reset) and costs less than a map per
// add: no hashing call, no control bytes, one flat array.
type u64set struct {
	slots []uint64
	n     int // values in slots
	zero  bool
}

func (s *u64set) len() int {
	if s.zero {
		return s.n + 1
	}
	return s.n
}

// slot spreads x over the table (Fibonacci hashing: the values are hashes already, but a uid's
// or a pid's hash need not vary in its low bits).
func (s *u64set) slot(x uint64) uint64 {
	h := x * 0x9E3779B97F4A7C15
	return (h ^ h>>32) & uint64(len(s.slots)-1)
}

func (s *u64set) add(x uint64) {
	if x == 0 {
		s.zero = true
		return
	}
	if 4*(s.n+1) > 3*len(s.slots) { // at most 3/4 full
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := s.slot(x); ; i = (i + 1) & mask {
		switch s.slots[i] {
		case x:
			return
		case 0:
			s.slots[i] = x
			s.n++
			return
		}
	}
}

func (s *u64set) grow() {
	old := s.slots
	s.slots = make([]uint64, max(8, 2*len(old)))
	s.n = 0
	for _, x := range old {
		if x != 0 {
			s.add(x)
		}
	}
}

// addAll adds every value of o.
func (s *u64set) addAll(o *u64set) {
	for _, x := range o.slots {
		if x != 0 {
			s.add(x)
		}
	}
	if o.zero {
		s.zero = true
	}
}

// reset empties s, keeping its table for reuse unless it has grown past maxReusedSet values.
func (s *u64set) reset() {
	if s.n > maxReusedSet {
		s.slots = nil
	}
	s.clear()
}

// clear empties s and keeps its table.
func (s *u64set) clear() {
	clear(s.slots)
	s.n, s.zero = 0, false
}
