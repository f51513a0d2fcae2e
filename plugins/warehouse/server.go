package warehouse

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// serverWarehouse is a ClickHouse server or cluster reached over the native protocol.
type serverWarehouse struct {
	cfg  Config
	conn driver.Conn

	typesMu sync.Mutex
	types   map[string]map[string]string
}

// ServerOptions builds the clickhouse-go options for cfg; getenv reads the credentials' env
// vars (os.Getenv in production).
func ServerOptions(cfg Config, getenv func(string) string) (*ch.Options, error) {
	opts := &ch.Options{
		Protocol:     ch.Native,
		Addr:         cfg.Hosts,
		Auth:         ch.Auth{Database: cfg.Database, Username: getenv(cfg.UserEnv), Password: getenv(cfg.PasswordEnv)},
		DialTimeout:  cfg.DialTimeout,
		MaxOpenConns: cfg.MaxOpenConns,
		MaxIdleConns: cfg.MaxOpenConns,
		ClientInfo:   ch.ClientInfo{Products: []struct{ Name, Version string }{{Name: "amoskys", Version: "1"}}},
	}
	if opts.Auth.Username == "" {
		opts.Auth.Username = "default"
	}
	switch cfg.Compress {
	case "lz4":
		opts.Compression = &ch.Compression{Method: ch.CompressionLZ4}
	case "zstd":
		opts.Compression = &ch.Compression{Method: ch.CompressionZSTD}
	}
	if cfg.Secure {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.SkipVerify} //nolint:gosec // opt-in by DSN
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("reading ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ca_file %s holds no PEM certificate", cfg.CAFile)
			}
			tc.RootCAs = pool
		}
		if (cfg.CertFile == "") != (cfg.KeyFile == "") {
			return nil, fmt.Errorf("cert_file and key_file go together: give both or neither")
		}
		if cfg.CertFile != "" {
			// The client certificate the server may require (mutual TLS).
			cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("loading client certificate cert_file/key_file: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts.TLS = tc
	} else if cfg.CAFile != "" || cfg.SkipVerify || cfg.CertFile != "" || cfg.KeyFile != "" {
		return nil, fmt.Errorf("ca_file, cert_file, key_file and skip_verify need secure=true")
	}
	return opts, nil
}

func openServer(ctx context.Context, cfg Config) (Warehouse, error) {
	opts, err := ServerOptions(cfg, os.Getenv)
	if err != nil {
		return nil, err
	}
	conn, err := ch.Open(opts)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("ping %s: %w", strings.Join(cfg.Hosts, ","), err)
	}
	return &serverWarehouse{cfg: cfg, conn: conn, types: map[string]map[string]string{}}, nil
}

func (w *serverWarehouse) Backend() string { return SchemeClickHouse }
func (w *serverWarehouse) Close() error    { return w.conn.Close() }

func (w *serverWarehouse) Exec(ctx context.Context, query string) error {
	if strings.TrimSpace(query) == "" {
		return fmt.Errorf("empty query")
	}
	err := w.conn.Exec(ctx, query)
	if err == nil && isDDL(query) {
		w.typesMu.Lock()
		clear(w.types)
		w.typesMu.Unlock()
	}
	return err
}

// rowFormats are ClickHouse row output formats that formatRow() renders server-side.
var rowFormats = map[string]bool{"TabSeparated": true, "TSV": true, "TabSeparatedRaw": true,
	"TSVRaw": true, "CSV": true, "JSONEachRow": true, "JSONCompactEachRow": true, "Values": true,
	"TabSeparatedWithNames": true, "TSVWithNames": true, "CSVWithNames": true}

// Query renders the result server-side with formatRow() for row formats (the native protocol
// carries blocks, not formatted text); JSON and Pretty formats are assembled here from
// JSONEachRow rows. Statements that cannot be wrapped (SHOW, DESCRIBE) are rendered from
// scanned values.
func (w *serverWarehouse) Query(ctx context.Context, query, format string) ([]byte, error) {
	q := strings.TrimRight(strings.TrimSpace(query), ";")
	if q == "" {
		return nil, fmt.Errorf("empty query")
	}
	if format == "" {
		format = "TabSeparated"
	}
	first := strings.ToUpper(firstWord(q))
	if first != "SELECT" && first != "WITH" && first != "(" {
		return w.scanQuery(ctx, q, format)
	}
	rowFormat, withNames := format, false
	switch format {
	case "TabSeparatedWithNames", "TSVWithNames":
		rowFormat, withNames = "TabSeparated", true
	case "CSVWithNames":
		rowFormat, withNames = "CSV", true
	case "JSON", "JSONCompact", "PrettyCompactMonoBlock", "PrettyCompact", "Pretty", "PrettyMonoBlock":
		rowFormat = "JSONEachRow"
	default:
		if !rowFormats[format] {
			return nil, fmt.Errorf("format %q is not supported by the clickhouse backend", format)
		}
	}
	rows, err := w.conn.Query(ctx, "SELECT formatRow("+Quote(rowFormat)+", *) FROM ("+q+")")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []byte
	var lines []string
	if withNames {
		names, err := w.columnNames(ctx, q)
		if err != nil {
			return nil, err
		}
		if rowFormat == "CSV" {
			var b strings.Builder
			cw := csv.NewWriter(&b)
			_ = cw.Write(names)
			cw.Flush()
			out = append(out, b.String()...)
		} else {
			out = append(out, strings.Join(names, "\t")+"\n"...)
		}
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		if rowFormat != format && rowFormat == "JSONEachRow" {
			lines = append(lines, strings.TrimSpace(s))
			continue
		}
		out = append(out, s...)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if lines != nil || (rowFormat == "JSONEachRow" && rowFormat != format) {
		names, err := w.columnNames(ctx, q)
		if err != nil {
			return nil, err
		}
		return renderFromJSONRows(format, names, lines)
	}
	return out, nil
}

func (w *serverWarehouse) columnNames(ctx context.Context, q string) ([]string, error) {
	rows, err := w.conn.Query(ctx, "SELECT * FROM ("+q+") LIMIT 0")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rows.Columns(), nil
}

// scanQuery runs a statement as is and renders scanned values as text.
func (w *serverWarehouse) scanQuery(ctx context.Context, q, format string) ([]byte, error) {
	rows, err := w.conn.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	names := rows.Columns()
	var table [][]string
	for rows.Next() {
		vals := make([]any, len(rows.ColumnTypes()))
		for i, ct := range rows.ColumnTypes() {
			vals[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(vals...); err != nil {
			return nil, err
		}
		rec := make([]string, len(vals))
		for i, v := range vals {
			rec[i] = fmt.Sprint(reflect.ValueOf(v).Elem().Interface())
		}
		table = append(table, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	lines := make([]string, len(table))
	for i, rec := range table {
		m := map[string]string{}
		for j, n := range names {
			m[n] = rec[j]
		}
		b, _ := json.Marshal(m)
		lines[i] = string(b)
	}
	switch format {
	case "TabSeparated", "TSV", "TabSeparatedRaw", "TSVRaw", "TabSeparatedWithNames", "TSVWithNames":
		var b strings.Builder
		if strings.HasSuffix(format, "WithNames") {
			b.WriteString(strings.Join(names, "\t") + "\n")
		}
		for _, rec := range table {
			b.WriteString(strings.Join(rec, "\t") + "\n")
		}
		return []byte(b.String()), nil
	case "JSONEachRow":
		return []byte(strings.Join(lines, "\n") + "\n"), nil
	}
	return renderFromJSONRows(format, names, lines)
}

// renderFromJSONRows builds block formats (JSON, Pretty*) from JSONEachRow lines.
func renderFromJSONRows(format string, names []string, lines []string) ([]byte, error) {
	rows := make([]map[string]json.RawMessage, 0, len(lines))
	for _, l := range lines {
		if l == "" {
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			return nil, err
		}
		rows = append(rows, m)
	}
	switch format {
	case "JSON", "JSONCompact":
		doc := struct {
			Meta []map[string]string          `json:"meta"`
			Data []map[string]json.RawMessage `json:"data"`
			Rows int                          `json:"rows"`
		}{Data: rows, Rows: len(rows)}
		for _, n := range names {
			doc.Meta = append(doc.Meta, map[string]string{"name": n})
		}
		return json.MarshalIndent(doc, "", "\t")
	}
	// Pretty: a boxed table like PrettyCompactMonoBlock.
	cells := make([][]string, len(rows))
	width := make([]int, len(names))
	for i, n := range names {
		width[i] = len([]rune(n))
	}
	for r, m := range rows {
		cells[r] = make([]string, len(names))
		for i, n := range names {
			var s string
			if err := json.Unmarshal(m[n], &s); err != nil {
				s = string(m[n])
			}
			cells[r][i] = s
			width[i] = max(width[i], len([]rune(s)))
		}
	}
	var b strings.Builder
	line := func(l, fill, sep, r string, vals []string) {
		b.WriteString(l)
		for i := range names {
			if i > 0 {
				b.WriteString(sep)
			}
			v := ""
			if vals != nil {
				v = vals[i]
			}
			b.WriteString(fill + v + strings.Repeat(fill, width[i]-len([]rune(v))) + fill)
		}
		b.WriteString(r + "\n")
	}
	b.WriteString("┌")
	for i, n := range names {
		if i > 0 {
			b.WriteString("┬")
		}
		b.WriteString("─" + n + strings.Repeat("─", width[i]-len([]rune(n))) + "─")
	}
	b.WriteString("┐\n")
	for _, c := range cells {
		line("│", " ", "│", "│", c)
	}
	line("└", "─", "┴", "┘", nil)
	return []byte(b.String()), nil
}

func (w *serverWarehouse) columnTypes(ctx context.Context, table string) (map[string]string, error) {
	w.typesMu.Lock()
	t, ok := w.types[table]
	w.typesMu.Unlock()
	if ok {
		return t, nil
	}
	rows, err := w.conn.Query(ctx, "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = ?", table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	t = map[string]string{}
	for rows.Next() {
		var n, typ string
		if err := rows.Scan(&n, &typ); err != nil {
			return nil, err
		}
		t[n] = typ
	}
	if len(t) == 0 {
		return nil, fmt.Errorf("table %q does not exist (run `amoskys migrate`)", table)
	}
	w.typesMu.Lock()
	w.types[table] = t
	w.typesMu.Unlock()
	return t, nil
}

// Insert sends rows in one native batch (PrepareBatch, Append, Send).
func (w *serverWarehouse) Insert(ctx context.Context, table string, columns []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	types, err := w.columnTypes(ctx, table)
	if err != nil {
		return err
	}
	stmt, conv, err := BuildBatch(table, columns, types, rows)
	if err != nil {
		return err
	}
	// The same rows retried carry the same token: the server drops the duplicate block.
	ctx = ch.Context(ctx, ch.WithSettings(ch.Settings{"insert_deduplication_token": dedupToken(table, rowsKey(rows))}))
	batch, err := w.conn.PrepareBatch(ctx, stmt)
	if err != nil {
		return err
	}
	for _, row := range conv {
		if err := batch.Append(row...); err != nil {
			_ = batch.Abort()
			return err
		}
	}
	return batch.Send()
}

// BuildBatch checks rows against the table's column types and converts each value to the Go
// type clickhouse-go appends for that column (nil for NULL, pointers for Nullable, typed
// slices for arrays of nullables). It returns the INSERT statement for PrepareBatch.
func BuildBatch(table string, columns []string, types map[string]string, rows [][]any) (string, [][]any, error) {
	if !validIdent(table) {
		return "", nil, fmt.Errorf("table name %q: want letters, digits and _", table)
	}
	cts := make([]*colType, len(columns))
	for i, c := range columns {
		if !validIdent(c) {
			return "", nil, fmt.Errorf("column name %q: want letters, digits and _", c)
		}
		t, ok := types[c]
		if !ok {
			return "", nil, fmt.Errorf("table %s has no column %q", table, c)
		}
		var err error
		if cts[i], err = parseType(t); err != nil {
			return "", nil, fmt.Errorf("column %s: %w", c, err)
		}
	}
	out := make([][]any, len(rows))
	for ri, row := range rows {
		if len(row) != len(columns) {
			return "", nil, &RowError{Row: ri, Err: fmt.Errorf("%d values for %d columns", len(row), len(columns))}
		}
		conv := make([]any, len(row))
		for ci, v := range row {
			// The RowBinary encoder is the one place that knows what fits a column: use it to check.
			if _, err := appendRowBinary(nil, cts[ci], v); err != nil {
				return "", nil, &RowError{Row: ri, Err: fmt.Errorf("column %s: %w", columns[ci], err)}
			}
			conv[ci] = serverValue(cts[ci], v)
		}
		out[ri] = conv
	}
	return "INSERT INTO `" + table + "` (" + strings.Join(quoteIdents(columns), ", ") + ")", out, nil
}

// serverValue converts a checked value to what clickhouse-go expects for c.
func serverValue(c *colType, v any) any {
	if c.nullable {
		if v == nil {
			return nil
		}
		switch x := v.(type) {
		case int32:
			return &x
		case float64:
			return &x
		case time.Time:
			return &x
		case string:
			return &x
		}
	}
	if c.base == "Array" && c.elem.nullable {
		if xs, ok := v.([]any); ok && c.elem.base == "Float64" {
			out := make([]*float64, len(xs))
			for i, x := range xs {
				if f, ok := toFloat(x); ok && x != nil {
					out[i] = &f
				}
			}
			return out
		}
	}
	if t, ok := v.(time.Time); ok && t.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return v
}
