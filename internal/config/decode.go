package config

import (
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree into a Go value strictly, collecting every error with its
// position and remembering where each field was written so validation can point at it.
type decoder struct {
	file string
	errs Errors
	pos  map[string]*yaml.Node // dotted path -> value node
	keys map[string]*yaml.Node // dotted path -> key node
	// depth guards against alias cycles (`a: &x [*x]`) and absurd nesting.
	depth int
	// soft counts errors that leave every decoded value as it was (unknown keys), so that
	// validation still runs and the report lists every problem at once.
	soft int
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, pos: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}}
}

func (d *decoder) add(line, col int, format string, args ...any) {
	if line < 1 {
		line = 1
	}
	if col < 1 {
		col = 1
	}
	d.errs = append(d.errs, Error{File: d.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) errAt(n *yaml.Node, format string, args ...any) {
	if n == nil {
		d.add(1, 1, format, args...)
		return
	}
	d.add(n.Line, n.Column, format, args...)
}

var yamlLineRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// parseDocument reads data as exactly one YAML document. It returns nil when data holds no
// document at all (an empty file: every default applies).
func (d *decoder) parseDocument(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		d.syntaxError(err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errAt(&extra, "the file holds more than one YAML document; config.yaml is one document")
	} else if !errors.Is(err, io.EOF) {
		d.syntaxError(err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

func (d *decoder) syntaxError(err error) {
	msg := err.Error()
	line := 1
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		if m[1] != "" {
			line, _ = strconv.Atoi(m[1])
		}
		msg = m[2]
	}
	d.add(line, 1, "invalid YAML: %s", msg)
}

var durationType = reflect.TypeOf(Duration(0))

// decode fills v from n. path is the dotted name of v, "" at the root.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > 16 {
		d.errAt(n, "%s: nesting is too deep (an alias refers to itself?)", path)
		return
	}
	d.pos[path] = n
	name := path
	if name == "" {
		name = "the top level"
	}
	if v.Type() == durationType {
		if !d.scalar(n, name, "a duration such as \"30d\" or \"12h\"") {
			return
		}
		dur, err := ParseDuration(n.Value)
		if err != nil {
			d.errAt(n, "%s: %v", name, err)
			return
		}
		v.Set(reflect.ValueOf(dur))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if isNull(n) {
			return // an empty section keeps its defaults
		}
		if n.Kind != yaml.MappingNode {
			d.errAt(n, "%s must be a mapping of keys to values, got %s", name, describe(n))
			return
		}
		d.decodeStruct(n, v, path, name)
	case reflect.Slice:
		if isNull(n) {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errAt(n, "%s must be a list, got %s", name, describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		if isNull(n) {
			v.SetString("")
			return
		}
		if !d.scalar(n, name, "a string") {
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int64:
		if !d.scalar(n, name, "an integer") {
			return
		}
		i, ok := parseInt(n)
		if !ok {
			d.errAt(n, "%s must be an integer, got %q", name, n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		if !d.scalar(n, name, "true or false") {
			return
		}
		if n.ShortTag() != "!!bool" {
			d.errAt(n, "%s must be true or false, got %q", name, n.Value)
			return
		}
		v.SetBool(n.Value == "true" || n.Value == "True" || n.Value == "TRUE")
	default:
		panic("config: unsupported field kind " + v.Kind().String()) // wiring bug
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path, name string) {
	t := v.Type()
	fields := map[string]int{}
	var allowed []string
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = i
		allowed = append(allowed, tag)
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errAt(k, "%s: keys must be plain names, got %s", name, describe(k))
			continue
		}
		if k.Value == "<<" {
			d.errAt(k, "%s: YAML merge keys (<<) are not supported; write the keys out", name)
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			where := "in " + name
			if path == "" {
				where = "at the top level"
			}
			d.errAt(k, "key %q given twice %s (first at line %d)", k.Value, where, prev.Line)
			continue
		}
		seen[k.Value] = k
		idx, ok := fields[k.Value]
		if !ok {
			where := "in " + name
			if path == "" {
				where = "at the top level"
			}
			d.errAt(k, "unknown key %q %s (allowed: %s)", k.Value, where, strings.Join(allowed, ", "))
			d.soft++
			continue
		}
		sub := k.Value
		if path != "" {
			sub = path + "." + k.Value
		}
		d.keys[sub] = k
		d.decode(val, v.Field(idx), sub)
	}
}

func (d *decoder) scalar(n *yaml.Node, name, want string) bool {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errAt(n, "%s must be %s, got %s", name, want, describe(n))
		return false
	}
	return true
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing (null)"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unsupported YAML node"
}

func parseInt(n *yaml.Node) (int64, bool) {
	switch n.ShortTag() {
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return 0, false
		}
		return i, true
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		return int64(f), true
	}
	return 0, false
}
