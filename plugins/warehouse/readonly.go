package warehouse

import (
	"fmt"
	"strings"
)

// readStarts are the statements a read-only entry point accepts.
var readStarts = map[string]bool{"SELECT": true, "WITH": true, "SHOW": true, "DESCRIBE": true,
	"DESC": true, "EXPLAIN": true, "EXISTS": true}

// deniedFunctions are table functions that read or write outside the warehouse (host files,
// network, other databases, programs): refused on a read-only entry point.
var deniedFunctions = map[string]bool{
	"file": true, "filecluster": true, "url": true, "urlcluster": true, "s3": true, "s3cluster": true,
	"gcs": true, "hdfs": true, "hdfscluster": true, "azureblobstorage": true, "azureblobstoragecluster": true,
	"remote": true, "remotesecure": true, "cluster": true, "clusterallreplicas": true, "mysql": true,
	"postgresql": true, "mongodb": true, "redis": true, "sqlite": true, "jdbc": true, "odbc": true,
	"executable": true, "input": true, "iceberg": true, "icebergs3": true, "deltalake": true,
	"hudi": true, "python": true, "arrowflight": true, "ytsaurus": true, "fuzzjson": true,
	"fuzzquery": true, "loop": true,
}

// CheckReadOnly accepts a single read statement (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS)
// and refuses everything else with an error wrapping ErrReadOnly: writes, DDL, SET, SYSTEM,
// several statements, INTO OUTFILE, and table functions that reach outside the warehouse.
func CheckReadOnly(query string) error {
	toks, err := tokenize(query)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrReadOnly, err)
	}
	// One statement: a trailing semicolon is fine, anything after it is not.
	for i, t := range toks {
		if t.kind == tokSemicolon {
			if i != len(toks)-1 {
				return fmt.Errorf("%w: one statement at a time", ErrReadOnly)
			}
			toks = toks[:i]
		}
	}
	if len(toks) == 0 {
		return fmt.Errorf("%w: empty query", ErrReadOnly)
	}
	first := strings.ToUpper(toks[0].text)
	if toks[0].kind != tokWord || !readStarts[first] {
		return fmt.Errorf("%w: %q is not a read statement", ErrReadOnly, toks[0].text)
	}
	for i, t := range toks {
		if t.kind != tokWord {
			continue
		}
		up := strings.ToUpper(t.text)
		if (i > 0 && toks[i-1].text == ".") || (i+1 < len(toks) && toks[i+1].text == ".") {
			continue // a qualified name: system.numbers, alerts.update
		}
		switch up {
		case "INSERT", "OUTFILE", "ALTER", "DROP", "TRUNCATE", "CREATE", "ATTACH", "DETACH",
			"RENAME", "OPTIMIZE", "SYSTEM", "GRANT", "REVOKE", "KILL", "BACKUP", "RESTORE", "DELETE",
			"UPDATE", "EXCHANGE", "UNDROP", "SET", "USE":
			// Keywords only count outside identifiers; a column named "update" must be quoted.
			if up == "CREATE" && first == "SHOW" {
				continue
			}
			return fmt.Errorf("%w: %s is not allowed", ErrReadOnly, up)
		}
		if i+1 < len(toks) && toks[i+1].kind == tokParen && deniedFunctions[strings.ToLower(t.text)] {
			return fmt.Errorf("%w: table function %s() reaches outside the warehouse", ErrReadOnly, t.text)
		}
	}
	return nil
}

type tokKind int

const (
	tokWord tokKind = iota
	tokQuoted
	tokSemicolon
	tokParen
	tokOther
)

type token struct {
	kind tokKind
	text string
}

// tokenize splits SQL into words, quoted strings/identifiers and punctuation, dropping comments.
func tokenize(q string) ([]token, error) {
	var toks []token
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && i+1 < len(q) && q[i+1] == '-', c == '#':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("unterminated comment")
			}
			i += end + 4
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for ; j < len(q); j++ {
				if q[j] == '\\' {
					j++
					continue
				}
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c { // doubled quote
						j++
						continue
					}
					break
				}
			}
			if j >= len(q) {
				return nil, fmt.Errorf("unterminated quote")
			}
			toks = append(toks, token{tokQuoted, q[i : j+1]})
			i = j + 1
		case c == ';':
			toks = append(toks, token{tokSemicolon, ";"})
			i++
		case c == '(':
			toks = append(toks, token{tokParen, "("})
			i++
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80:
			j := i
			for j < len(q) && (q[j] == '_' || q[j] == '$' || q[j] >= 'a' && q[j] <= 'z' || q[j] >= 'A' && q[j] <= 'Z' || q[j] >= '0' && q[j] <= '9' || q[j] >= 0x80) {
				j++
			}
			toks = append(toks, token{tokWord, q[i:j]})
			i = j
		default:
			toks = append(toks, token{tokOther, string(c)})
			i++
		}
	}
	return toks, nil
}

// SplitStatements splits a script into statements at semicolons outside quotes and comments.
func SplitStatements(script string) []string {
	var out []string
	start := 0
	for i := 0; i < len(script); {
		c := script[i]
		switch {
		case c == '-' && i+1 < len(script) && script[i+1] == '-':
			for i < len(script) && script[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(script) && script[i+1] == '*':
			end := strings.Index(script[i+2:], "*/")
			if end < 0 {
				i = len(script)
			} else {
				i += end + 4
			}
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for ; j < len(script); j++ {
				if script[j] == '\\' {
					j++
					continue
				}
				if script[j] == c {
					break
				}
			}
			i = j + 1
		case c == ';':
			if s := strings.TrimSpace(stripComments(script[start:i])); s != "" {
				out = append(out, strings.TrimSpace(script[start:i]))
			}
			i++
			start = i
		default:
			i++
		}
	}
	if start < len(script) {
		if s := strings.TrimSpace(stripComments(script[start:])); s != "" {
			out = append(out, strings.TrimSpace(script[start:]))
		}
	}
	return out
}

// stripComments drops -- line comments (enough to see whether a chunk is only comments).
func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "--") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}
