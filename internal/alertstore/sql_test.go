package alertstore

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/schemas"
)

var quoteCases = []struct{ in, want string }{
	{"", `''`},
	{"plain", `'plain'`},
	{"it's", `'it\'s'`},
	{`back\slash`, `'back\\slash'`},
	{`\'; DROP TABLE alerts; --`, `'\\\'; DROP TABLE alerts; --'`},
	{"nl\nx\x00y\x7f", `'nl\x0Ax\x00y\x7F'`},
	{"héllo ☃", `'héllo ☃'`},
	{"bad\xffutf8", `'bad\xFFutf8'`},
}

func TestQuote(t *testing.T) {
	for _, c := range quoteCases {
		require.Equal(t, c.want, Quote(c.in), "%q", c.in)
	}
}

// unquote reads a ClickHouse single-quoted literal the way the server's lexer does for the
// escapes Quote writes; ok is false when the literal ends early or has trailing bytes.
func unquote(lit string) (string, bool) {
	if len(lit) < 2 || lit[0] != '\'' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(lit); i++ {
		c := lit[i]
		switch c {
		case '\'':
			return b.String(), i == len(lit)-1
		case '\\':
			i++
			if i >= len(lit) {
				return "", false
			}
			if lit[i] == 'x' {
				if i+2 >= len(lit) {
					return "", false
				}
				var v byte
				for _, h := range lit[i+1 : i+3] {
					v <<= 4
					switch {
					case h >= '0' && h <= '9':
						v |= byte(h - '0')
					case h >= 'A' && h <= 'F':
						v |= byte(h-'A') + 10
					default:
						return "", false
					}
				}
				b.WriteByte(v)
				i += 2
			} else {
				b.WriteByte(lit[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}

func FuzzQuote(f *testing.F) {
	for _, c := range quoteCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := Quote(s)
		require.True(t, utf8.ValidString(q), "the literal is valid UTF-8")
		got, ok := unquote(q)
		require.True(t, ok, "literal %s ends where it should", q)
		require.Equal(t, s, got)
	})
}

func TestCursor(t *testing.T) {
	c := Cursor{Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), ID: "abc123"}
	got, err := ParseCursor(c.String())
	require.NoError(t, err)
	require.Equal(t, c, got)
	for _, bad := range []string{"", "x", "12_", "_abc", "-1_abc", "12_a'b", "1e3_abc", "99999999999999999999_a"} {
		_, err := ParseCursor(bad)
		require.ErrorIs(t, err, ErrBadCursor, bad)
	}
}

func TestFilterSQL(t *testing.T) {
	f := Filter{Limit: 50, Severities: []schemas.Severity{schemas.SeverityHigh}, Host: "h'1", Process: `sh\`,
		Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Cursor: &Cursor{Time: time.Unix(10, 0), ID: "id1"}}
	require.NoError(t, f.Validate())
	q := recentSQL(&f)
	require.Contains(t, q, `host = 'h\'1'`)
	require.Contains(t, q, `position(entity, 'sh\\') > 0`)
	require.Contains(t, q, `severity IN ('HIGH')`)
	require.Contains(t, q, `(time, id) < (toDateTime64('1970-01-01 00:00:10.000000', 6, 'UTC'), 'id1')`)
	require.Contains(t, q, "LIMIT 50")
	bad := Filter{Limit: 0}
	require.Error(t, bad.Validate())
	bad = Filter{Limit: 1, Severities: []schemas.Severity{"SEVERE"}}
	require.Error(t, bad.Validate())
}

func FuzzParseCursor(f *testing.F) {
	f.Add("1700000000000000_abc")
	f.Add("12_a'b")
	f.Add("-1_x")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCursor(s)
		if err != nil {
			return
		}
		// an accepted cursor is safe in SQL and survives a round trip
		require.True(t, ValidID(c.ID))
		back, err := ParseCursor(c.String())
		require.NoError(t, err)
		require.Equal(t, c, back)
	})
}
