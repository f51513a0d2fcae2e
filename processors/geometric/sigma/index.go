package sigma

import (
	"regexp/syntax"
	"sort"
	"strings"
)

// A prefilter: for each rule, a set of atoms ("the last path component of field F is B") such
// that the rule can only match when at least one atom holds. Most Sigma process rules start
// with `Image|endswith: '/tool'`, so an event is only tested against the rules of its image's
// basename plus the rules that have no such atom set.

type atom struct {
	field FieldID
	sub   bool   // the value contains lit (else: the value's last path component is lit)
	lit   string // lowercased
}

func litAtom(field FieldID, v string) (atom, bool) {
	if v == "" {
		return atom{}, false
	}
	return atom{field: field, sub: true, lit: v}, true
}

// matcherAtoms returns atoms necessary for f to be true, or ok=false.
func matcherAtoms(f *fieldMatcher) ([]atom, bool) {
	if f.field == Absent {
		return nil, true // never true: an empty necessary set
	}
	if f.keywords != nil || f.exists != 0 || f.null || f.refs != nil || len(f.ms) == 0 {
		return nil, false
	}
	if f.cased { // only regular expressions have a case-insensitive necessary literal
		var out []atom
		ms := f.ms
		if f.all {
			ms = ms[:1]
		}
		for _, m := range ms {
			re, ok := m.(mRegex)
			if !ok {
				return nil, false
			}
			lits, ok := regexLiterals(re.re.String())
			if !ok {
				return nil, false
			}
			for _, l := range lits {
				out = append(out, atom{field: f.field, sub: true, lit: l})
			}
		}
		return out, true
	}
	ms := f.ms
	if f.all {
		ms = ms[:1] // every value must match, so the first one's atom is necessary
	}
	var out []atom
	for _, m := range ms {
		var a atom
		ok := true
		switch m := m.(type) {
		case mEquals:
			v := string(m)
			if b := v[strings.LastIndexByte(v, '/')+1:]; b != "" {
				a = atom{field: f.field, lit: b}
			} else {
				a, ok = litAtom(f.field, v)
			}
		case mSuffix:
			v := string(m)
			if i := strings.LastIndexByte(v, '/'); i >= 0 && i+1 < len(v) {
				a = atom{field: f.field, lit: v[i+1:]}
			} else {
				a, ok = litAtom(f.field, v)
			}
		case mPrefix:
			a, ok = litAtom(f.field, string(m))
		case mContains:
			a, ok = litAtom(f.field, string(m))
		case mGlob:
			if m.cased {
				return nil, false
			}
			long := ""
			for _, t := range m.toks {
				if t.kind == 'l' && len(t.lit) > len(long) {
					long = t.lit
				}
			}
			a, ok = litAtom(f.field, long)
		default:
			return nil, false
		}
		if !ok {
			return nil, false
		}
		out = append(out, a)
	}
	return out, true
}

func selectionAtoms(s *selection) ([]atom, bool) {
	var out []atom
	for _, g := range s.groups {
		var best []atom
		found := false
		for _, f := range g {
			a, ok := matcherAtoms(f)
			if ok && (!found || len(a) < len(best)) {
				best, found = a, true
			}
		}
		if !found {
			return nil, false
		}
		out = append(out, best...)
	}
	return out, true
}

func nodeAtoms(n node) ([]atom, bool) {
	switch n := n.(type) {
	case nSel:
		return selectionAtoms(n.sel)
	case nAnd:
		var best []atom
		found := false
		for _, c := range n {
			if a, ok := nodeAtoms(c); ok && (!found || len(a) < len(best)) {
				best, found = a, true
			}
		}
		return best, found
	case nOr:
		var out []atom
		for _, c := range n {
			a, ok := nodeAtoms(c)
			if !ok {
				return nil, false
			}
			out = append(out, a...)
		}
		return out, true
	case nOf:
		if n.n == 0 { // all of: any one selection's atoms are necessary
			var best []atom
			found := false
			for _, s := range n.sels {
				if a, ok := selectionAtoms(s.sel); ok && (!found || len(a) < len(best)) {
					best, found = a, true
				}
			}
			return best, found
		}
		var out []atom
		for _, s := range n.sels {
			a, ok := selectionAtoms(s.sel)
			if !ok {
				return nil, false
			}
			out = append(out, a...)
		}
		return out, true
	case nConst:
		if !bool(n) {
			return nil, true
		}
	}
	return nil, false
}

// catIndex is the prefilter of one category's rules.
type catIndex struct {
	rules  []*Rule
	always []bool               // rule i has no atom set: always evaluated
	fields []FieldID            // fields with basename atoms
	bases  []map[string][]int32 // by position in fields: basename -> rule indexes
	subs   []subIndex           // fields with substring atoms
}

// subIndex finds, in one pass per value, which substring atoms of a field hold.
type subIndex struct {
	field FieldID
	ac    *acMatcher
	rules [][]int32 // literal id -> rule indexes
}

func buildIndex(rules []*Rule) *catIndex {
	ix := &catIndex{rules: rules, always: make([]bool, len(rules))}
	byBase := map[FieldID]map[string][]int32{} // field -> basename -> rule indexes
	subLits := map[FieldID]map[string][]int32{}
	var subFields []FieldID
	for i, r := range rules {
		atoms, ok := nodeAtoms(r.cond)
		if !ok {
			ix.always[i] = true
			continue
		}
		seen := map[atom]bool{}
		for _, a := range atoms {
			if seen[a] {
				continue
			}
			seen[a] = true
			if a.sub {
				m := subLits[a.field]
				if m == nil {
					m = map[string][]int32{}
					subLits[a.field] = m
					subFields = append(subFields, a.field)
				}
				m[a.lit] = append(m[a.lit], int32(i))
				continue
			}
			m := byBase[a.field]
			if m == nil {
				m = map[string][]int32{}
				byBase[a.field] = m
				ix.fields = append(ix.fields, a.field)
				ix.bases = append(ix.bases, m)
			}
			m[a.lit] = append(m[a.lit], int32(i))
		}
	}
	for _, f := range subFields {
		lits := make([]string, 0, len(subLits[f]))
		for l := range subLits[f] {
			lits = append(lits, l)
		}
		sort.Strings(lits)
		si := subIndex{field: f, ac: newAC(lits)}
		for _, l := range lits {
			si.rules = append(si.rules, subLits[f][l])
		}
		ix.subs = append(ix.subs, si)
	}
	return ix
}

// candidates marks in mark (len(rules)) the rules rec may match.
func (ix *catIndex) candidates(rec *Record, mark []bool) {
	copy(mark, ix.always)
	for k, f := range ix.fields {
		m := ix.bases[k] // a slice, not a map per field: one lookup fewer per field and event
		for _, v := range rec.Lower(f) {
			b := v[strings.LastIndexByte(v, '/')+1:]
			for _, i := range m[b] {
				mark[i] = true
			}
		}
	}
	for k := range ix.subs {
		si := &ix.subs[k]
		a := si.ac
		n := int32(a.nclass)
		for _, v := range rec.Lower(si.field) {
			st := int32(0)
			for j := 0; j < len(v); j++ {
				st = a.next[st*n+int32(a.class[v[j]])]
				for _, id := range a.out[st] {
					for _, i := range si.rules[id] {
						mark[i] = true
					}
				}
			}
		}
	}
}

// regexLiterals returns lowercased literals one of which every match of the expression
// contains, or ok=false when it cannot tell.
func regexLiterals(expr string) ([]string, bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, false
	}
	return reLits(re.Simplify())
}

func reLits(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return nil, false
		}
		return []string{strings.ToLower(string(re.Rune))}, true
	case syntax.OpCapture, syntax.OpPlus:
		return reLits(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return reLits(re.Sub[0])
		}
	case syntax.OpConcat:
		var best []string
		found := false
		for _, s := range re.Sub {
			if l, ok := reLits(s); ok && (!found || minLen(l) > minLen(best)) {
				best, found = l, true
			}
		}
		return best, found
	case syntax.OpAlternate:
		var out []string
		for _, s := range re.Sub {
			l, ok := reLits(s)
			if !ok {
				return nil, false
			}
			out = append(out, l...)
		}
		return out, true
	}
	return nil, false
}

func minLen(ls []string) int {
	m := -1
	for _, l := range ls {
		if m < 0 || len(l) < m {
			m = len(l)
		}
	}
	return m
}
