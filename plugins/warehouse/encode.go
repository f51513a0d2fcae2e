package warehouse

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// colType is a parsed ClickHouse column type, enough to encode our Go values.
type colType struct {
	base     string // String, UInt8.., Int8.., Float32/64, Bool, DateTime64, DateTime, Date, Array, Map, UUID
	nullable bool
	scale    int      // DateTime64 precision
	elem     *colType // Array element, Map value
	key      *colType // Map key
}

// parseType parses a type as system.columns prints it.
func parseType(t string) (*colType, error) {
	t = strings.TrimSpace(t)
	if inner, ok := strip(t, "LowCardinality"); ok {
		return parseType(inner)
	}
	if inner, ok := strip(t, "Nullable"); ok {
		c, err := parseType(inner)
		if err != nil {
			return nil, err
		}
		c.nullable = true
		return c, nil
	}
	if inner, ok := strip(t, "Array"); ok {
		e, err := parseType(inner)
		if err != nil {
			return nil, err
		}
		return &colType{base: "Array", elem: e}, nil
	}
	if inner, ok := strip(t, "Map"); ok {
		k, v, ok := splitTop(inner)
		if !ok {
			return nil, fmt.Errorf("type %s: want Map(K, V)", t)
		}
		kt, err := parseType(k)
		if err != nil {
			return nil, err
		}
		vt, err := parseType(v)
		if err != nil {
			return nil, err
		}
		return &colType{base: "Map", key: kt, elem: vt}, nil
	}
	if inner, ok := strip(t, "DateTime64"); ok {
		p, _, _ := strings.Cut(inner, ",")
		s, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || s < 0 || s > 9 {
			return nil, fmt.Errorf("type %s: bad precision", t)
		}
		return &colType{base: "DateTime64", scale: s}, nil
	}
	if _, ok := strip(t, "DateTime"); ok || t == "DateTime" {
		return &colType{base: "DateTime"}, nil
	}
	switch t {
	case "String", "UInt8", "UInt16", "UInt32", "UInt64", "Int8", "Int16", "Int32", "Int64",
		"Float32", "Float64", "Bool", "Date", "UUID":
		return &colType{base: t}, nil
	}
	return nil, fmt.Errorf("column type %s is not supported by the inserter", t)
}

func strip(t, name string) (string, bool) {
	if strings.HasPrefix(t, name+"(") && strings.HasSuffix(t, ")") {
		return t[len(name)+1 : len(t)-1], true
	}
	return "", false
}

// splitTop splits "A, B" at the top-level comma.
func splitTop(s string) (string, string, bool) {
	depth := 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:]), true
			}
		}
	}
	return "", "", false
}

// Value conversions shared by both encoders.

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case uint:
		return int64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<62 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}

func toUint64(v any) (uint64, bool) {
	if x, ok := v.(uint64); ok {
		return x, true
	}
	if x, ok := v.(uint); ok {
		return uint64(x), true
	}
	i, ok := toInt64(v)
	if !ok || i < 0 {
		return 0, false
	}
	return uint64(i), true
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	}
	i, ok := toInt64(v)
	return float64(i), ok
}

var intRange = map[string][2]int64{
	"Int8": {math.MinInt8, math.MaxInt8}, "Int16": {math.MinInt16, math.MaxInt16},
	"Int32": {math.MinInt32, math.MaxInt32}, "Int64": {math.MinInt64, math.MaxInt64},
}

var uintMax = map[string]uint64{"UInt8": math.MaxUint8, "UInt16": math.MaxUint16,
	"UInt32": math.MaxUint32, "UInt64": math.MaxUint64}

func toTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case *time.Time:
		if x == nil {
			return time.Time{}, true
		}
		return *x, true
	}
	return time.Time{}, false
}

var pow10 = [...]int64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// ticks returns t as DateTime64(scale) ticks since the epoch; the zero time is the epoch.
func ticks(t time.Time, scale int) int64 {
	if t.IsZero() {
		return 0
	}
	ns := t.UnixNano()
	return ns / (1_000_000_000 / pow10[scale])
}

func badValue(c *colType, v any) error {
	return fmt.Errorf("value %v (%T) does not fit column type %s", v, v, c.base)
}

// appendRowBinary encodes v as c in ClickHouse RowBinary.
func appendRowBinary(b []byte, c *colType, v any) ([]byte, error) {
	if c.nullable {
		if v == nil {
			return append(b, 1), nil
		}
		b = append(b, 0)
	} else if v == nil {
		return nil, fmt.Errorf("NULL in non-nullable column of type %s", c.base)
	}
	switch c.base {
	case "String":
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case []byte:
			s = string(x)
		default:
			return nil, badValue(c, v)
		}
		b = binary.AppendUvarint(b, uint64(len(s)))
		return append(b, s...), nil
	case "UInt8", "UInt16", "UInt32", "UInt64", "Bool":
		u, ok := toUint64(v)
		max := uintMax[c.base]
		if c.base == "Bool" {
			max = 1
		}
		if !ok || u > max {
			return nil, badValue(c, v)
		}
		switch c.base {
		case "UInt8", "Bool":
			return append(b, byte(u)), nil
		case "UInt16":
			return binary.LittleEndian.AppendUint16(b, uint16(u)), nil
		case "UInt32":
			return binary.LittleEndian.AppendUint32(b, uint32(u)), nil
		}
		return binary.LittleEndian.AppendUint64(b, u), nil
	case "Int8", "Int16", "Int32", "Int64":
		i, ok := toInt64(v)
		r := intRange[c.base]
		if !ok || i < r[0] || i > r[1] {
			return nil, badValue(c, v)
		}
		switch c.base {
		case "Int8":
			return append(b, byte(int8(i))), nil
		case "Int16":
			return binary.LittleEndian.AppendUint16(b, uint16(int16(i))), nil
		case "Int32":
			return binary.LittleEndian.AppendUint32(b, uint32(int32(i))), nil
		}
		return binary.LittleEndian.AppendUint64(b, uint64(i)), nil
	case "Float32", "Float64":
		f, ok := toFloat(v)
		if !ok {
			return nil, badValue(c, v)
		}
		if c.base == "Float32" {
			return binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(f))), nil
		}
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(f)), nil
	case "DateTime64", "DateTime", "Date":
		t, ok := toTime(v)
		if !ok {
			return nil, badValue(c, v)
		}
		if err := checkTimeRange(t); err != nil {
			return nil, err
		}
		switch c.base {
		case "DateTime64":
			return binary.LittleEndian.AppendUint64(b, uint64(ticks(t, c.scale))), nil
		case "DateTime":
			return binary.LittleEndian.AppendUint32(b, uint32(max(t.Unix(), 0))), nil
		}
		return binary.LittleEndian.AppendUint16(b, uint16(max(t.Unix()/86400, 0))), nil
	case "Array":
		return appendArray(b, c, v, false)
	case "Map":
		m, ok := v.(map[string]string)
		if !ok {
			return nil, badValue(c, v)
		}
		b = binary.AppendUvarint(b, uint64(len(m)))
		for _, k := range sortedMapKeys(m) {
			var err error
			if b, err = appendRowBinary(b, c.key, k); err != nil {
				return nil, err
			}
			if b, err = appendRowBinary(b, c.elem, m[k]); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("RowBinary: type %s not supported", c.base)
}

func checkTimeRange(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if y := t.Year(); y < 1970 || y > 2261 {
		return fmt.Errorf("time %s outside 1970..2261", t.Format(time.RFC3339))
	}
	return nil
}

func appendArray(b []byte, c *colType, v any, tsv bool) ([]byte, error) {
	enc := appendRowBinary
	if tsv {
		enc = appendTSVNested
	}
	var n int
	var at func(int) any
	switch x := v.(type) {
	case []string:
		n, at = len(x), func(i int) any { return x[i] }
	case []float64:
		n, at = len(x), func(i int) any { return x[i] }
	case []int64:
		n, at = len(x), func(i int) any { return x[i] }
	case []uint32:
		n, at = len(x), func(i int) any { return x[i] }
	case []int32:
		n, at = len(x), func(i int) any { return x[i] }
	case []any:
		n, at = len(x), func(i int) any { return x[i] }
	case nil:
	default:
		return nil, badValue(c, v)
	}
	if tsv {
		b = append(b, '[')
	} else {
		b = binary.AppendUvarint(b, uint64(n))
	}
	for i := 0; i < n; i++ {
		if tsv && i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = enc(b, c.elem, at(i)); err != nil {
			return nil, err
		}
	}
	if tsv {
		b = append(b, ']')
	}
	return b, nil
}

func sortedMapKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TabSeparated encoding. Top-level strings are escaped as TSV; values nested in arrays and
// maps are quoted literals.

func appendTSV(b []byte, c *colType, v any) ([]byte, error) {
	if v == nil {
		if !c.nullable {
			return nil, fmt.Errorf("NULL in non-nullable column of type %s", c.base)
		}
		return append(b, `\N`...), nil
	}
	if c.base == "String" {
		s, ok := v.(string)
		if !ok {
			return nil, badValue(c, v)
		}
		return appendTSVEscaped(b, s), nil
	}
	return appendTSVNested(b, c, v)
}

func appendTSVEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\\':
			b = append(b, '\\', '\\')
		case 0:
			b = append(b, '\\', '0')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendQuoted writes a quoted literal as TabSeparated writes values nested in arrays and maps
// (escaped once, tabs and newlines included).
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '\\':
			b = append(b, '\\', c)
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case 0:
			b = append(b, '\\', '0')
		default:
			b = append(b, c)
		}
	}
	return append(b, '\'')
}

func appendTSVNested(b []byte, c *colType, v any) ([]byte, error) {
	switch c.base {
	case "String":
		s, ok := v.(string)
		if !ok {
			return nil, badValue(c, v)
		}
		return appendQuoted(b, s), nil
	case "UInt8", "UInt16", "UInt32", "UInt64", "Bool":
		u, ok := toUint64(v)
		max := uintMax[c.base]
		if c.base == "Bool" {
			max = 1
		}
		if !ok || u > max {
			return nil, badValue(c, v)
		}
		return strconv.AppendUint(b, u, 10), nil
	case "Int8", "Int16", "Int32", "Int64":
		i, ok := toInt64(v)
		r := intRange[c.base]
		if !ok || i < r[0] || i > r[1] {
			return nil, badValue(c, v)
		}
		return strconv.AppendInt(b, i, 10), nil
	case "Float32", "Float64":
		f, ok := toFloat(v)
		if !ok {
			return nil, badValue(c, v)
		}
		switch {
		case math.IsNaN(f):
			return append(b, "nan"...), nil
		case math.IsInf(f, 1):
			return append(b, "inf"...), nil
		case math.IsInf(f, -1):
			return append(b, "-inf"...), nil
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64), nil
	case "DateTime64", "DateTime", "Date":
		t, ok := toTime(v)
		if !ok {
			return nil, badValue(c, v)
		}
		if err := checkTimeRange(t); err != nil {
			return nil, err
		}
		switch c.base {
		case "DateTime64":
			// Unix seconds with a fraction: unambiguous whatever the column's time zone.
			return appendUnixFrac(b, t, c.scale), nil
		case "DateTime":
			return strconv.AppendInt(b, max(t.Unix(), 0), 10), nil
		}
		return t.UTC().AppendFormat(b, "2006-01-02"), nil
	case "Array":
		return appendArray(b, c, v, true)
	case "Map":
		m, ok := v.(map[string]string)
		if !ok {
			return nil, badValue(c, v)
		}
		b = append(b, '{')
		for i, k := range sortedMapKeys(m) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendQuoted(b, k)
			b = append(b, ':')
			b = appendQuoted(b, m[k])
		}
		return append(b, '}'), nil
	}
	return nil, fmt.Errorf("TabSeparated: type %s not supported", c.base)
}

func appendUnixFrac(b []byte, t time.Time, scale int) []byte {
	tk := ticks(t, scale)
	if scale == 0 {
		return strconv.AppendInt(b, tk, 10)
	}
	p := pow10[scale]
	sec, frac := tk/p, tk%p
	if frac < 0 {
		sec, frac = sec-1, frac+p
	}
	b = strconv.AppendInt(b, sec, 10)
	b = append(b, '.')
	f := strconv.AppendInt(nil, frac, 10)
	for i := len(f); i < scale; i++ {
		b = append(b, '0')
	}
	return append(b, f...)
}
