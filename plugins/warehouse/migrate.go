package warehouse

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// DefaultRetentionDays is the TTL of telemetry when config gives none.
const DefaultRetentionDays = 30

// MigrateOption tunes Migrate.
type MigrateOption func(*migrateOptions)

type migrateOptions struct {
	vars map[string]string
}

// WithRetentionDays sets the value substituted for {retention_days} in migrations.
func WithRetentionDays(days int) MigrateOption {
	return func(o *migrateOptions) { o.vars["retention_days"] = strconv.Itoa(days) }
}

// WithVar sets the value substituted for {name} in migrations.
func WithVar(name, value string) MigrateOption {
	return func(o *migrateOptions) { o.vars[name] = value }
}

const migrationsTable = "schema_migrations"

// Migrate applies the *.sql files at the root of fsys in name order, each once: applied files are
// recorded in schema_migrations with their checksum, so running it again does nothing. A file
// may hold several statements separated by semicolons and placeholders such as
// {retention_days}. A file changed after it was applied is an error, not silently re-run.
func Migrate(ctx context.Context, w Warehouse, fsys fs.FS, opts ...MigrateOption) error {
	_, err := Apply(ctx, w, fsys, opts...)
	return err
}

// migrateMu serialises migrations within the process (several outputs may connect at once).
var migrateMu sync.Mutex

// Apply is Migrate returning the names of the files it applied in this run.
func Apply(ctx context.Context, w Warehouse, fsys fs.FS, opts ...MigrateOption) ([]string, error) {
	migrateMu.Lock()
	defer migrateMu.Unlock()
	o := migrateOptions{vars: map[string]string{"retention_days": strconv.Itoa(DefaultRetentionDays)}}
	for _, opt := range opts {
		opt(&o)
	}
	if d, err := strconv.Atoi(o.vars["retention_days"]); err != nil || d < 1 || d > 36500 {
		return nil, fmt.Errorf("retention_days %q: want 1..36500", o.vars["retention_days"])
	}
	if err := w.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+migrationsTable+` (
	name String,
	checksum String,
	applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(applied_at) ORDER BY name`); err != nil {
		return nil, fmt.Errorf("creating %s: %w", migrationsTable, err)
	}
	out, err := w.Query(ctx, "SELECT name, argMax(checksum, applied_at) FROM "+migrationsTable+" GROUP BY name", "TabSeparated")
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", migrationsTable, err)
	}
	applied := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if n, sum, ok := strings.Cut(line, "\t"); ok {
			applied[n] = sum
		}
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var done []string
	for _, name := range names {
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return done, fmt.Errorf("reading migration %s: %w", name, err)
		}
		sum := sha256.Sum256(raw)
		checksum := hex.EncodeToString(sum[:])
		base := path.Base(name)
		if prev, ok := applied[base]; ok {
			if prev != checksum {
				return done, fmt.Errorf("migration %s changed after it was applied (checksum %s, recorded %s): add a new migration instead", base, checksum[:12], prev[:min(12, len(prev))])
			}
			continue
		}
		script, err := substitute(string(raw), o.vars)
		if err != nil {
			return done, fmt.Errorf("migration %s: %w", base, err)
		}
		for i, stmt := range SplitStatements(script) {
			if err := w.Exec(ctx, stmt); err != nil {
				return done, fmt.Errorf("migration %s statement %d: %w", base, i+1, err)
			}
		}
		if err := w.Exec(ctx, fmt.Sprintf("INSERT INTO %s (name, checksum) VALUES (%s, %s)", migrationsTable, Quote(base), Quote(checksum))); err != nil {
			return done, fmt.Errorf("recording migration %s: %w", base, err)
		}
		done = append(done, base)
	}
	return done, nil
}

// substitute replaces {name} placeholders; an unknown placeholder is an error.
func substitute(s string, vars map[string]string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "{")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		name := s[i+1 : i+j]
		if !validIdent(name) {
			// Not a placeholder (a JSON literal, a map), keep it.
			b.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		v, ok := vars[name]
		if !ok {
			return "", fmt.Errorf("unknown placeholder {%s}", name)
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+j+1:]
	}
}

// Quote renders s as a ClickHouse string literal.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case 0:
			b.WriteString(`\0`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
