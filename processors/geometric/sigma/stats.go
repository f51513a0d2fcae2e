package sigma

// IndexStats reports, per category, how many rules the prefilter always evaluates.
func (rs *Ruleset) IndexStats() map[string][2]int {
	out := map[string][2]int{}
	for c, ix := range rs.index {
		n := 0
		for _, a := range ix.always {
			if a {
				n++
			}
		}
		out[c] = [2]int{n, len(ix.rules)}
	}
	return out
}
