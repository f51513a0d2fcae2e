package sigma

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

// node is a compiled condition.
type node interface {
	eval(r *Record) bool
}

type (
	nAnd []node
	nOr  []node
	nNot struct{ n node }
	nSel struct {
		name string
		sel  *selection
	}
	nOf struct {
		n    int // 0 = all
		sels []nSel
	}
	nConst bool
)

func (n nAnd) eval(r *Record) bool {
	for _, c := range n {
		if !c.eval(r) {
			return false
		}
	}
	return true
}

func (n nOr) eval(r *Record) bool {
	for _, c := range n {
		if c.eval(r) {
			return true
		}
	}
	return false
}

func (n nNot) eval(r *Record) bool   { return !n.n.eval(r) }
func (n nSel) eval(r *Record) bool   { return n.sel.eval(r) }
func (n nConst) eval(_ *Record) bool { return bool(n) }

func (n nOf) eval(r *Record) bool {
	if n.n == 0 {
		for _, s := range n.sels {
			if !s.sel.eval(r) {
				return false
			}
		}
		return true
	}
	c := 0
	for _, s := range n.sels {
		if s.sel.eval(r) {
			c++
			if c >= n.n {
				return true
			}
		}
	}
	return false
}

// token kinds of the condition language.
const (
	tIdent = iota
	tAnd
	tOr
	tNot
	tOf
	tLParen
	tRParen
	tNum
	tAll
	tThem
	tPipe
	tEOF
)

type token struct {
	kind int
	s    string
	pos  int
}

func lexCondition(s string) ([]token, error) {
	var out []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			out = append(out, token{tLParen, "(", i})
			i++
		case c == ')':
			out = append(out, token{tRParen, ")", i})
			i++
		case c == '|':
			out = append(out, token{tPipe, "|", i})
			i++
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()|", rune(s[j])) {
				j++
			}
			w := s[i:j]
			tk := token{tIdent, w, i}
			switch strings.ToLower(w) {
			case "and":
				tk.kind = tAnd
			case "or":
				tk.kind = tOr
			case "not":
				tk.kind = tNot
			case "of":
				tk.kind = tOf
			case "all":
				tk.kind = tAll
			case "them":
				tk.kind = tThem
			default:
				if _, err := strconv.Atoi(w); err == nil {
					tk.kind = tNum
				} else {
					for _, ch := range w {
						if !(ch == '_' || ch == '*' || ch == '-' || ch == '.' || ch >= '0' && ch <= '9' ||
							ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z') {
							return nil, fmt.Errorf("condition: unexpected character %q at column %d", ch, i+1)
						}
					}
				}
			}
			out = append(out, tk)
			i = j
		}
	}
	return append(out, token{tEOF, "", len(s)}), nil
}

type condParser struct {
	toks  []token
	i     int
	sels  map[string]*selection
	names []string // sorted selection names
	used  map[string]bool
	depth int
}

// parseCondition compiles one condition expression over the named selections.
func parseCondition(s string, sels map[string]*selection) (node, map[string]bool, error) {
	if i := strings.IndexByte(s, '|'); i >= 0 {
		return nil, nil, fmt.Errorf("condition: aggregation expressions (`| count() ...`) are not supported (column %d)", i+1)
	}
	toks, err := lexCondition(s)
	if err != nil {
		return nil, nil, err
	}
	p := &condParser{toks: toks, sels: sels, used: map[string]bool{}}
	for n := range sels {
		p.names = append(p.names, n)
	}
	sort.Strings(p.names)
	n, err := p.or()
	if err != nil {
		return nil, nil, err
	}
	switch t := p.peek(); t.kind {
	case tEOF:
	case tPipe:
		return nil, nil, fmt.Errorf("condition: aggregation expressions (`| count() ...`) are not supported (column %d)", t.pos+1)
	default:
		return nil, nil, fmt.Errorf("condition: unexpected %q at column %d", t.s, t.pos+1)
	}
	return n, p.used, nil
}

func (p *condParser) peek() token { return p.toks[p.i] }
func (p *condParser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *condParser) or() (node, error) {
	n, err := p.and()
	if err != nil {
		return nil, err
	}
	ns := nOr{n}
	for p.peek().kind == tOr {
		p.next()
		m, err := p.and()
		if err != nil {
			return nil, err
		}
		ns = append(ns, m)
	}
	if len(ns) == 1 {
		return n, nil
	}
	return ns, nil
}

func (p *condParser) and() (node, error) {
	n, err := p.not()
	if err != nil {
		return nil, err
	}
	ns := nAnd{n}
	for p.peek().kind == tAnd {
		p.next()
		m, err := p.not()
		if err != nil {
			return nil, err
		}
		ns = append(ns, m)
	}
	if len(ns) == 1 {
		return n, nil
	}
	return ns, nil
}

func (p *condParser) not() (node, error) {
	if p.peek().kind == tNot {
		p.next()
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > 100 {
			return nil, fmt.Errorf("condition: nested too deeply")
		}
		n, err := p.not()
		if err != nil {
			return nil, err
		}
		return nNot{n}, nil
	}
	return p.primary()
}

func (p *condParser) primary() (node, error) {
	t := p.next()
	switch t.kind {
	case tLParen:
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > 100 {
			return nil, fmt.Errorf("condition: nested too deeply")
		}
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, fmt.Errorf("condition: expected ')' at column %d, got %q", c.pos+1, c.s)
		}
		return n, nil
	case tNum, tAll:
		q := 0
		if t.kind == tNum {
			q, _ = strconv.Atoi(t.s)
			if q < 1 {
				return nil, fmt.Errorf("condition: %q of: the count must be at least 1 (column %d)", t.s, t.pos+1)
			}
		}
		if o := p.next(); o.kind != tOf {
			return nil, fmt.Errorf("condition: expected 'of' after %q at column %d", t.s, o.pos+1)
		}
		target := p.next()
		var names []string
		switch target.kind {
		case tThem:
			for _, n := range p.names {
				if !strings.HasPrefix(n, "_") {
					names = append(names, n)
				}
			}
		case tIdent:
			for _, n := range p.names {
				if ok, _ := path.Match(target.s, n); ok {
					names = append(names, n)
				}
			}
			if len(names) == 0 {
				return nil, fmt.Errorf("condition: %q matches no selection (column %d)", target.s, target.pos+1)
			}
		default:
			return nil, fmt.Errorf("condition: expected a selection pattern or 'them' at column %d", target.pos+1)
		}
		of := nOf{n: q}
		for _, n := range names {
			p.used[n] = true
			of.sels = append(of.sels, nSel{name: n, sel: p.sels[n]})
		}
		if len(of.sels) == 0 {
			return nConst(q == 0), nil
		}
		return of, nil
	case tIdent:
		if strings.ContainsAny(t.s, "*") {
			return nil, fmt.Errorf("condition: wildcard %q needs '1 of' or 'all of' (column %d)", t.s, t.pos+1)
		}
		s, ok := p.sels[t.s]
		if !ok {
			return nil, fmt.Errorf("condition: unknown selection %q (column %d)", t.s, t.pos+1)
		}
		p.used[t.s] = true
		return nSel{name: t.s, sel: s}, nil
	case tEOF:
		return nil, fmt.Errorf("condition: unexpected end")
	default:
		return nil, fmt.Errorf("condition: unexpected %q at column %d", t.s, t.pos+1)
	}
}
