package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/amoskys/amoskys/plugins/warehouse"
)

// MaxBodyBytes bounds a request body (and so a query).
const MaxBodyBytes = 1 << 20

// Output formats of /api/sql and `amoskys sql`.
const (
	FormatJSON  = "json"
	FormatTSV   = "tsv"
	FormatTable = "table"
)

// Formats lists every output format.
var Formats = []string{FormatJSON, FormatTSV, FormatTable}

// Limits bound a result; zero means no limit.
type Limits struct {
	MaxRows  int
	MaxBytes int
}

// Result is a query result rendered in one format.
type Result struct {
	Format    string
	Body      []byte
	Rows      int
	Truncated bool
}

// JSONResult is the body of a json-format result.
type JSONResult struct {
	Columns      []string          `json:"columns"`
	Types        []string          `json:"types"`
	Rows         []json.RawMessage `json:"rows"`
	RowsReturned int               `json:"rows_returned"`
	Truncated    bool              `json:"truncated"`
}

// ErrBadFormat says the format is not one of Formats.
var ErrBadFormat = errors.New("format must be one of json, tsv, table")

// ErrEmptyQuery says there is no statement to run.
var ErrEmptyQuery = errors.New("empty query")

// QueryError is an error of the engine running a query (syntax, unknown table, ...), as opposed
// to a transport or usage error.
type QueryError struct{ Err error }

func (e *QueryError) Error() string { return e.Err.Error() }
func (e *QueryError) Unwrap() error { return e.Err }

// CleanQuery trims space and trailing semicolons.
func CleanQuery(q string) string {
	q = strings.TrimSpace(q)
	for strings.HasSuffix(q, ";") {
		q = strings.TrimSpace(strings.TrimSuffix(q, ";"))
	}
	return q
}

// RunSQL runs query on w and renders its result in format within lim.
func RunSQL(ctx context.Context, w warehouse.Warehouse, query, format string, lim Limits) (*Result, error) {
	query = CleanQuery(query)
	if query == "" {
		return nil, ErrEmptyQuery
	}
	switch format {
	case FormatTSV:
		out, err := w.Query(ctx, query, "TabSeparatedWithNames")
		if err != nil {
			return nil, &QueryError{err}
		}
		return limitTSV(out, lim), nil
	case FormatJSON, FormatTable:
		out, err := w.Query(ctx, query, "JSONCompactEachRowWithNamesAndTypes")
		if err != nil {
			return nil, &QueryError{err}
		}
		jr, err := parseCompact(out, lim)
		if err != nil {
			return nil, err
		}
		res := &Result{Format: format, Rows: jr.RowsReturned, Truncated: jr.Truncated}
		if format == FormatJSON {
			res.Body, err = json.Marshal(jr)
			if err != nil {
				return nil, err
			}
			res.Body = append(res.Body, '\n')
		} else {
			res.Body = RenderTable(jr)
		}
		return res, nil
	}
	return nil, ErrBadFormat
}

func limitTSV(out []byte, lim Limits) *Result {
	res := &Result{Format: FormatTSV}
	var b bytes.Buffer
	lines := bytes.SplitAfter(out, []byte("\n"))
	for i, line := range lines {
		if len(line) == 0 {
			continue
		}
		if i > 0 { // line 0 is the header
			if lim.MaxRows > 0 && res.Rows >= lim.MaxRows {
				res.Truncated = true
				break
			}
		}
		if lim.MaxBytes > 0 && b.Len()+len(line) > lim.MaxBytes && i > 0 {
			res.Truncated = true
			break
		}
		b.Write(line)
		if i > 0 {
			res.Rows++
		}
	}
	res.Body = b.Bytes()
	return res
}

// parseCompact reads JSONCompactEachRowWithNamesAndTypes: a line of names, a line of types, then
// one JSON array per row.
func parseCompact(out []byte, lim Limits) (*JSONResult, error) {
	jr := &JSONResult{Columns: []string{}, Types: []string{}, Rows: []json.RawMessage{}}
	dec := json.NewDecoder(bytes.NewReader(out))
	if err := dec.Decode(&jr.Columns); err != nil {
		if errors.Is(err, io.EOF) {
			return jr, nil // statements without a result set
		}
		return nil, fmt.Errorf("reading result header: %w", err)
	}
	if err := dec.Decode(&jr.Types); err != nil {
		return nil, fmt.Errorf("reading result types: %w", err)
	}
	size := 0
	for {
		var row json.RawMessage
		if err := dec.Decode(&row); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("reading result row %d: %w", len(jr.Rows)+1, err)
		}
		if lim.MaxRows > 0 && len(jr.Rows) >= lim.MaxRows {
			jr.Truncated = true
			break
		}
		size += len(row) + 1
		if lim.MaxBytes > 0 && size > lim.MaxBytes {
			jr.Truncated = true
			break
		}
		jr.Rows = append(jr.Rows, row)
	}
	jr.RowsReturned = len(jr.Rows)
	return jr, nil
}

// RenderTable renders a result as an aligned text table.
func RenderTable(jr *JSONResult) []byte {
	cells := make([][]string, 0, len(jr.Rows))
	widths := make([]int, len(jr.Columns))
	for i, c := range jr.Columns {
		widths[i] = utf8.RuneCountInString(c)
	}
	for _, raw := range jr.Rows {
		var vals []json.RawMessage
		_ = json.Unmarshal(raw, &vals)
		row := make([]string, len(jr.Columns))
		for i := range row {
			if i < len(vals) {
				row[i] = cellText(vals[i])
			}
			if n := utf8.RuneCountInString(row[i]); n > widths[i] {
				widths[i] = n
			}
		}
		cells = append(cells, row)
	}
	var b bytes.Buffer
	line := func(vals []string) {
		for i, v := range vals {
			if i > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(v)
			if i < len(vals)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(v)))
			}
		}
		b.WriteByte('\n')
	}
	if len(jr.Columns) > 0 {
		line(jr.Columns)
		for i, w := range widths {
			if i > 0 {
				b.WriteString("-+-")
			}
			b.WriteString(strings.Repeat("-", w))
		}
		b.WriteByte('\n')
	}
	for _, row := range cells {
		line(row)
	}
	fmt.Fprintf(&b, "(%d row%s%s)\n", len(cells), plural(len(cells)), map[bool]string{true: ", truncated", false: ""}[jr.Truncated])
	return b.Bytes()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func cellText(v json.RawMessage) string {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return escapeControls(s)
	}
	if string(v) == "null" {
		return "NULL"
	}
	return string(v)
}

// escapeControls keeps a table on one line per row and a terminal safe from data it prints
// (command lines can hold escape sequences): control characters are shown escaped.
func escapeControls(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// SQLRequest is the body of POST /api/sql.
type SQLRequest struct {
	Query  string `json:"query"`
	Format string `json:"format,omitempty"` // json (default) | tsv | table
}

// TruncatedHeader is set to "true" on a tsv or table response cut by the row or size limit.
const TruncatedHeader = "X-Amoskys-Truncated"

func (s *Server) sql(c *fiber.Ctx) error {
	var req SQLRequest
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return JSONError(c, fiber.StatusBadRequest, "invalid JSON body: %s (want {\"query\": \"SELECT ...\", \"format\": \"json|tsv|table\"})", jsonErrText(err))
	}
	if dec.More() {
		return JSONError(c, fiber.StatusBadRequest, "invalid JSON body: more than one JSON value")
	}
	if req.Format == "" {
		req.Format = FormatJSON
	}
	if req.Format != FormatJSON && req.Format != FormatTSV && req.Format != FormatTable {
		return JSONError(c, fiber.StatusBadRequest, "format %q: %v", req.Format, ErrBadFormat)
	}
	q := CleanQuery(req.Query)
	if q == "" {
		return JSONError(c, fiber.StatusBadRequest, "query is empty")
	}
	if err := warehouse.CheckReadOnly(q); err != nil {
		return JSONError(c, fiber.StatusForbidden, "%v", err)
	}
	w := s.deps.Warehouse
	if w == nil {
		return JSONError(c, fiber.StatusServiceUnavailable, "this process (role %q) has no warehouse", s.deps.Config.Role)
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), s.deps.Config.API.SQLTimeout.D())
	defer cancel()
	res, err := RunSQL(ctx, w, q, req.Format, Limits{MaxRows: s.deps.Config.API.SQLMaxRows, MaxBytes: s.deps.Config.API.SQLMaxBytes})
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return JSONError(c, fiber.StatusGatewayTimeout, "query did not finish within api.sql_timeout (%s)", s.deps.Config.API.SQLTimeout)
		}
		var qe *QueryError
		if errors.As(err, &qe) {
			return JSONError(c, fiber.StatusUnprocessableEntity, "%v", qe.Err)
		}
		return JSONError(c, fiber.StatusInternalServerError, "%v", err)
	}
	if res.Truncated {
		c.Set(TruncatedHeader, "true")
	}
	switch res.Format {
	case FormatJSON:
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	case FormatTSV:
		c.Set(fiber.HeaderContentType, "text/tab-separated-values; charset=utf-8")
	default:
		c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
	}
	return c.Send(res.Body)
}

func jsonErrText(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be a %s", te.Field, te.Type)
	}
	return err.Error()
}
