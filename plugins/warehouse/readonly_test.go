package warehouse

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckReadOnly(t *testing.T) {
	ok := []string{
		"SELECT 1", "select count() from process_events;", "WITH x AS (SELECT 1) SELECT * FROM x",
		"SHOW TABLES", "SHOW CREATE TABLE alerts", "DESCRIBE TABLE alerts", "EXPLAIN SELECT 1",
		"-- comment\nSELECT 'insert into x'", "SELECT `update` FROM t", "/* c */ SELECT 1",
		"SELECT * FROM alerts FINAL WHERE status = 'open' SETTINGS max_threads = 1",
		"EXISTS TABLE alerts", "SELECT number FROM system.numbers LIMIT 3",
	}
	for _, q := range ok {
		require.NoError(t, CheckReadOnly(q), q)
	}
	bad := []string{
		"", "  ;", "INSERT INTO t VALUES (1)", "DROP TABLE alerts", "SELECT 1; DROP TABLE alerts",
		"ALTER TABLE alerts DELETE WHERE 1", "SET max_threads = 1", "SYSTEM FLUSH LOGS",
		"SELECT * FROM file('/etc/passwd', 'LineAsString')", "SELECT * FROM url('http://x', CSV)",
		"SELECT 1 INTO OUTFILE '/tmp/x'", "CREATE TABLE x (a UInt8) ENGINE = Memory",
		"SELECT * FROM remote('h', system.one)", "SELECT 'unterminated", "OPTIMIZE TABLE alerts",
		"KILL QUERY WHERE 1", "TRUNCATE alerts", "WITH 1 AS x INSERT INTO t SELECT x",
		"SELECT * FROM executable('sh', 'TSV', 'x String')", "/* open", "USE system", "SELECT * FROM system.one; SYSTEM FLUSH LOGS",
	}
	for _, q := range bad {
		require.ErrorIs(t, CheckReadOnly(q), ErrReadOnly, q)
	}
}

func FuzzCheckReadOnly(f *testing.F) {
	for _, s := range []string{"SELECT 1", "INSERT INTO t", "SELECT ';' ; DROP", "/*", "'", "SELECT file('x')"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		err := CheckReadOnly(q)
		if err == nil {
			// Whatever passes must start with a read keyword and hold no second statement.
			toks, terr := tokenize(q)
			require.NoError(t, terr)
			require.NotEmpty(t, toks)
			require.Equal(t, tokWord, toks[0].kind)
			for i, tk := range toks {
				if tk.kind == tokSemicolon {
					require.Equal(t, len(toks)-1, i)
				}
			}
		}
	})
}

func TestSplitStatements(t *testing.T) {
	got := SplitStatements("-- c\nCREATE TABLE a (s String DEFAULT ';');\n\n/* x; */ SELECT 1;\n-- trailing\n")
	require.Equal(t, []string{"-- c\nCREATE TABLE a (s String DEFAULT ';')", "/* x; */ SELECT 1"}, got)
}
