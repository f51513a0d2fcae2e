package sigma

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// valueMatcher tests one field value. lower is the value lowercased; raw as given.
type valueMatcher interface {
	match(raw, lower string) bool
}

type (
	mEquals   string // lowercased
	mPrefix   string
	mSuffix   string
	mContains string
	mCEquals  string // cased variants compare raw values
	mCPrefix  string
	mCSuffix  string
	mCContain string
	mGlob     struct {
		toks  []gtok
		cased bool
	}
	mRegex struct{ re *regexp.Regexp }
	mCIDR  []netip.Prefix
	mNum   struct {
		op string
		v  float64
	}
)

func (m mEquals) match(_, l string) bool   { return l == string(m) }
func (m mPrefix) match(_, l string) bool   { return strings.HasPrefix(l, string(m)) }
func (m mSuffix) match(_, l string) bool   { return strings.HasSuffix(l, string(m)) }
func (m mContains) match(_, l string) bool { return strings.Contains(l, string(m)) }
func (m mCEquals) match(r, _ string) bool  { return r == string(m) }
func (m mCPrefix) match(r, _ string) bool  { return strings.HasPrefix(r, string(m)) }
func (m mCSuffix) match(r, _ string) bool  { return strings.HasSuffix(r, string(m)) }
func (m mCContain) match(r, _ string) bool { return strings.Contains(r, string(m)) }
func (m mRegex) match(r, _ string) bool    { return m.re.MatchString(r) }

func (m mGlob) match(r, l string) bool {
	if m.cased {
		return globMatch(m.toks, r)
	}
	return globMatch(m.toks, l)
}

func (m mCIDR) match(r, _ string) bool {
	a, err := netip.ParseAddr(strings.TrimSpace(r))
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range m {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (m mNum) match(r, _ string) bool {
	f, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
	if err != nil {
		return false
	}
	switch m.op {
	case "gt":
		return f > m.v
	case "gte":
		return f >= m.v
	case "lt":
		return f < m.v
	default:
		return f <= m.v
	}
}

// gtok is one token of a wildcard pattern: a literal, '*' (any run) or '?' (one character).
type gtok struct {
	kind byte // 'l', '*', '?'
	lit  string
}

// parseWildcards splits a Sigma value into tokens. `\*`, `\?` and `\\` are escapes; any other
// backslash is literal, as the Sigma specification says.
func parseWildcards(v string, lower bool) []gtok {
	var toks []gtok
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			s := b.String()
			if lower {
				s = strings.ToLower(s)
			}
			toks = append(toks, gtok{kind: 'l', lit: s})
			b.Reset()
		}
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && i+1 < len(v) && (v[i+1] == '*' || v[i+1] == '?' || v[i+1] == '\\'):
			b.WriteByte(v[i+1])
			i++
		case c == '*':
			flush()
			if len(toks) == 0 || toks[len(toks)-1].kind != '*' {
				toks = append(toks, gtok{kind: '*'})
			}
		case c == '?':
			flush()
			toks = append(toks, gtok{kind: '?'})
		default:
			b.WriteByte(c)
		}
	}
	flush()
	return toks
}

// simplify turns a token list into the cheapest matcher that does the same job.
func simplify(toks []gtok, cased bool) valueMatcher {
	lits, stars, qs := 0, 0, 0
	for _, t := range toks {
		switch t.kind {
		case 'l':
			lits++
		case '*':
			stars++
		case '?':
			qs++
		}
	}
	n := len(toks)
	if qs == 0 && lits <= 1 {
		lit := ""
		for _, t := range toks {
			if t.kind == 'l' {
				lit = t.lit
			}
		}
		lead := n > 0 && toks[0].kind == '*'
		trail := n > 0 && toks[n-1].kind == '*'
		switch {
		case lits == 0 && stars > 0:
			return mGlob{toks: toks, cased: cased} // '*' matches anything, even empty
		case !lead && !trail:
			if cased {
				return mCEquals(lit)
			}
			return mEquals(lit)
		case lead && trail:
			if cased {
				return mCContain(lit)
			}
			return mContains(lit)
		case lead:
			if cased {
				return mCSuffix(lit)
			}
			return mSuffix(lit)
		default:
			if cased {
				return mCPrefix(lit)
			}
			return mPrefix(lit)
		}
	}
	return mGlob{toks: toks, cased: cased}
}

// globMatch matches s against wildcard tokens, backtracking only to the last star.
func globMatch(toks []gtok, s string) bool {
	ti, si := 0, 0
	starT, starS := -1, 0
	for {
		if ti < len(toks) {
			t := toks[ti]
			switch t.kind {
			case '*':
				starT, starS = ti, si
				ti++
				continue
			case '?':
				if si < len(s) {
					_, w := utf8.DecodeRuneInString(s[si:])
					si += w
					ti++
					continue
				}
			case 'l':
				if strings.HasPrefix(s[si:], t.lit) {
					si += len(t.lit)
					ti++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		if starT < 0 || starS >= len(s) {
			return false
		}
		_, w := utf8.DecodeRuneInString(s[starS:])
		starS += w
		ti, si = starT+1, starS
	}
}

// fieldMatcher tests one field of a record against the values of one `field|mods` key.
type fieldMatcher struct {
	name     string  // as written in the rule, for evidence and errors
	field    FieldID // Absent: never has a value
	cased    bool    // compare raw values (cased, re, cidr, numeric)
	all      bool    // every matcher must match (some value)
	ms       []valueMatcher
	null     bool // value null: matches when the field is absent or empty
	exists   int  // 1 exists:true, -1 exists:false, 0 not an exists test
	keywords []FieldID
	emptyAny bool      // some value is '' (matches an absent field)
	emptyAll bool      // every value is '' or null
	refs     []FieldID // fieldref: the value equals (or contains, ...) another field's value
	refKind  string    // "", contains, startswith, endswith
}

// evalRef compares the field with the fields it references, case-insensitively.
func (f *fieldMatcher) evalRef(r *Record) bool {
	vals := r.Lower(f.field)
	for _, ref := range f.refs {
		ok := false
		for _, rv := range r.Lower(ref) {
			for _, v := range vals {
				switch f.refKind {
				case "contains":
					ok = strings.Contains(v, rv)
				case "startswith":
					ok = strings.HasPrefix(v, rv)
				case "endswith":
					ok = strings.HasSuffix(v, rv)
				default:
					ok = v == rv
				}
				if ok {
					break
				}
			}
			if ok {
				break
			}
		}
		if ok && !f.all {
			return true
		}
		if !ok && f.all {
			return false
		}
	}
	return f.all
}

func (f *fieldMatcher) eval(r *Record) bool {
	if f.exists != 0 {
		has := len(r.Raw(f.field)) > 0
		return has == (f.exists > 0)
	}
	if f.keywords != nil {
		return f.evalKeywords(r)
	}
	if f.refs != nil {
		return f.evalRef(r)
	}
	raw := r.Raw(f.field)
	if len(raw) == 0 {
		// An absent field matches only null and the empty string (`field: ''`); with `all`,
		// every value must be one of those.
		if f.all {
			return f.emptyAll
		}
		return f.null || f.emptyAny
	}
	var low []string
	if !f.cased {
		low = r.Lower(f.field)
	} else {
		low = raw
	}
	if f.null {
		for _, v := range raw {
			if v == "" {
				return true
			}
		}
	}
	if f.all {
		for _, m := range f.ms {
			ok := false
			for i := range raw {
				if m.match(raw[i], low[i]) {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
		}
		return true
	}
	for i := range raw {
		if f.any1(raw[i], low[i]) {
			return true
		}
	}
	return false
}

func (f *fieldMatcher) any1(raw, low string) bool {
	for _, m := range f.ms {
		if m.match(raw, low) {
			return true
		}
	}
	return false
}

func (f *fieldMatcher) evalKeywords(r *Record) bool {
	if f.all {
		for _, m := range f.ms {
			if !f.kwOne(r, m) {
				return false
			}
		}
		return true
	}
	for _, m := range f.ms {
		if f.kwOne(r, m) {
			return true
		}
	}
	return false
}

func (f *fieldMatcher) kwOne(r *Record, m valueMatcher) bool {
	for _, id := range f.keywords {
		raw := r.Raw(id)
		if len(raw) == 0 {
			continue
		}
		low := raw
		if !f.cased {
			low = r.Lower(id)
		}
		for i := range raw {
			if m.match(raw[i], low[i]) {
				return true
			}
		}
	}
	return false
}

// modifiers understood by compileValues.
var knownModifiers = map[string]bool{
	"contains": true, "startswith": true, "endswith": true, "all": true, "re": true,
	"i": true, "m": true, "s": true, "cidr": true, "windash": true, "base64": true,
	"base64offset": true, "exists": true, "cased": true, "gt": true, "gte": true, "lt": true,
	"lte": true, "fieldref": true, "utf16le": true, "utf16be": true, "utf16": true, "wide": true,
}

// compileField builds the matcher for one `name|mod|mod` key and its values. keyword says the
// key had no field name (a keyword search with modifiers).
func compileField(s *Schema, key string, values []scalar, keyword bool) (*fieldMatcher, error) {
	parts := strings.Split(key, "|")
	f := &fieldMatcher{name: parts[0]}
	if keyword {
		f.keywords = s.keywords
		if f.keywords == nil {
			f.keywords = []FieldID{}
		}
		f.field = Absent
	} else {
		f.field = s.Field(parts[0])
	}
	mods := map[string]bool{}
	var order []string
	for _, m := range parts[1:] {
		if !knownModifiers[m] {
			return nil, fmt.Errorf("unsupported modifier %q on %q", m, key)
		}
		mods[m] = true
		order = append(order, m)
	}
	f.all = mods["all"]
	if mods["exists"] {
		if len(values) != 1 || values[0].kind != 'b' {
			return nil, fmt.Errorf("%q: exists takes one boolean", key)
		}
		if values[0].s == "true" {
			f.exists = 1
		} else {
			f.exists = -1
		}
		return f, nil
	}
	if len(values) == 0 {
		return nil, fmt.Errorf("%q: no values", key)
	}
	if mods["fieldref"] {
		if keyword {
			return nil, fmt.Errorf("%q: fieldref needs a field", key)
		}
		for _, m := range []string{"contains", "startswith", "endswith"} {
			if mods[m] {
				f.refKind = m
			}
		}
		for m := range mods {
			if m != "fieldref" && m != "all" && m != f.refKind {
				return nil, fmt.Errorf("%q: fieldref combines only with all, contains, startswith, endswith", key)
			}
		}
		for _, v := range values {
			if v.kind == 'n' {
				return nil, fmt.Errorf("%q: fieldref to null", key)
			}
			f.refs = append(f.refs, s.Field(v.s)) // an unknown field never has a value
		}
		return f, nil
	}
	cased := mods["cased"]
	var kinds int
	for _, m := range []string{"contains", "startswith", "endswith"} {
		if mods[m] {
			kinds++
		}
	}
	if kinds > 1 {
		return nil, fmt.Errorf("%q: contains, startswith and endswith are exclusive", key)
	}
	for _, m := range []string{"re", "cidr", "gt", "gte", "lt", "lte"} {
		if mods[m] && (kinds > 0 || mods["base64"] || mods["base64offset"] || mods["windash"]) {
			return nil, fmt.Errorf("%q: %s cannot combine with string modifiers", key, m)
		}
	}
	if (mods["i"] || mods["m"] || mods["s"]) && !mods["re"] {
		return nil, fmt.Errorf("%q: i, m and s are sub-modifiers of re", key)
	}
	enc := ""
	for _, m := range []string{"utf16le", "utf16be", "utf16", "wide"} {
		if mods[m] {
			enc = m
		}
	}
	if enc != "" && !mods["base64"] && !mods["base64offset"] {
		return nil, fmt.Errorf("%q: %s must be followed by base64 or base64offset", key, enc)
	}
	_ = order
	f.emptyAll = kinds == 0 && !mods["re"] && !mods["cidr"]
	for _, v := range values {
		empty := v.kind == 'n' || v.kind == 's' && v.s == ""
		if empty && kinds == 0 && !mods["re"] && !mods["cidr"] && !mods["base64"] && !mods["base64offset"] {
			f.emptyAny = true
		}
		if !empty {
			f.emptyAll = false
		}
		if v.kind == 'n' { // null
			if mods["re"] || mods["cidr"] || kinds > 0 {
				return nil, fmt.Errorf("%q: null with a modifier", key)
			}
			f.null = true
			continue
		}
		switch {
		case mods["re"]:
			flags := ""
			if mods["i"] {
				flags += "i"
			}
			if mods["m"] {
				flags += "m"
			}
			if mods["s"] {
				flags += "s"
			}
			pat := v.s
			if flags != "" {
				pat = "(?" + flags + ")" + pat
			}
			re, err := regexp.Compile(pat)
			if err != nil {
				return nil, fmt.Errorf("%q: regular expression %q: %v", key, v.s, err)
			}
			f.cased = true
			f.ms = append(f.ms, mRegex{re: re})
		case mods["cidr"]:
			p, err := netip.ParsePrefix(v.s)
			if err != nil {
				return nil, fmt.Errorf("%q: cidr %q: %v", key, v.s, err)
			}
			f.cased = true
			f.ms = append(f.ms, mCIDR{p.Masked()})
		case mods["gt"] || mods["gte"] || mods["lt"] || mods["lte"]:
			n, err := strconv.ParseFloat(v.s, 64)
			if err != nil {
				return nil, fmt.Errorf("%q: %q is not a number", key, v.s)
			}
			op := "lte"
			for _, o := range []string{"gt", "gte", "lt"} {
				if mods[o] {
					op = o
				}
			}
			f.cased = true
			f.ms = append(f.ms, mNum{op: op, v: n})
		default:
			variants := []string{v.s}
			if mods["windash"] {
				variants = windash(v.s)
			}
			if mods["base64"] || mods["base64offset"] {
				encName := enc
				var enc []string
				for _, x := range variants {
					b := encodeText(x, encName)
					if mods["base64offset"] {
						enc = append(enc, base64Offsets(b)...)
					} else {
						enc = append(enc, base64.StdEncoding.EncodeToString(b))
					}
				}
				variants = enc
				cased = true // encoded text is case-sensitive
			}
			for _, x := range variants {
				toks := parseWildcards(x, !cased)
				if mods["base64"] || mods["base64offset"] { // no wildcards inside encoded text
					toks = []gtok{{kind: 'l', lit: x}}
				}
				if mods["contains"] || mods["endswith"] || keyword && kinds == 0 {
					toks = append([]gtok{{kind: '*'}}, toks...)
				}
				if mods["contains"] || mods["startswith"] || keyword && kinds == 0 {
					toks = append(toks, gtok{kind: '*'})
				}
				f.ms = append(f.ms, simplify(toks, cased))
			}
			f.cased = cased
		}
	}
	return f, nil
}

// windash expands a value with every dash form Windows tools accept for a flag.
func windash(v string) []string {
	out := []string{v}
	for _, d := range []string{"/", "–", "—", "―"} {
		if strings.Contains(v, "-") {
			out = append(out, strings.ReplaceAll(v, "-", d))
		}
	}
	return out
}

// encodeText turns v into the bytes of a text encoding before base64 (utf16le and wide are
// UTF-16 little-endian, utf16be big-endian, utf16 little-endian with a byte-order mark).
func encodeText(v, enc string) []byte {
	if enc == "" {
		return []byte(v)
	}
	var out []byte
	if enc == "utf16" {
		out = append(out, 0xff, 0xfe)
	}
	for _, r := range utf16.Encode([]rune(v)) {
		if enc == "utf16be" {
			out = append(out, byte(r>>8), byte(r))
		} else {
			out = append(out, byte(r), byte(r>>8))
		}
	}
	return out
}

// base64Offsets gives the three encodings of v at byte offsets 0, 1 and 2 in a longer text,
// trimmed to the characters that do not depend on the surrounding bytes.
func base64Offsets(v []byte) []string {
	start := []int{0, 2, 3}
	end := []int{0, -3, -2}
	var out []string
	for i := 0; i < 3; i++ {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, i), v...))
		e := len(enc)
		if r := (len(v) + i) % 3; r != 0 {
			e += end[r]
		}
		if e > len(enc) {
			e = len(enc)
		}
		enc = strings.TrimRight(enc[:e], "=")
		if start[i] <= len(enc) {
			out = append(out, enc[start[i]:])
		}
	}
	return out
}
