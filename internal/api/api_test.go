package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/config"
	"github.com/amoskys/amoskys/plugins/warehouse"
)

const testToken = "test-token-0123456789"

// chDB allows one engine per process: the test binary shares one embedded warehouse.
var (
	testWH      warehouse.Warehouse
	testOpenErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "amoskys-api-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testWH, testOpenErr = warehouse.Open(context.Background(), "chdb://"+dir)
	code := m.Run()
	if testWH != nil {
		_ = testWH.Close()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// needWarehouse returns the embedded warehouse, or skips when libchdb is missing (fails instead
// with AMOSKYS_REQUIRE_DEPS=1).
func needWarehouse(t *testing.T) warehouse.Warehouse {
	t.Helper()
	if testOpenErr != nil {
		if os.Getenv("AMOSKYS_REQUIRE_DEPS") == "1" || !errors.Is(testOpenErr, warehouse.ErrLibraryMissing) {
			t.Fatalf("embedded warehouse: %v", testOpenErr)
		}
		t.Skipf("embedded warehouse unavailable: %v", testOpenErr)
	}
	return testWH
}

func fuzzConfig() *config.Config {
	c := config.Default()
	c.BaseDir = os.TempDir()
	return c
}

func testConfig(t *testing.T) *config.Config {
	c := config.Default()
	c.BaseDir = t.TempDir()
	c.File = filepath.Join(c.BaseDir, "config.yaml")
	return c
}

func newServer(t *testing.T, w warehouse.Warehouse, mut ...func(*config.Config)) *Server {
	t.Helper()
	c := testConfig(t)
	for _, m := range mut {
		m(c)
	}
	s, err := New(Deps{Config: c, Warehouse: w, Pipelines: func() []PipelineStatus {
		return []PipelineStatus{{Name: "collect", State: "running"}}
	}}, testToken)
	require.NoError(t, err)
	return s
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func do(t *testing.T, s *Server, method, path, token string, body []byte) response {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.App().Test(req, -1)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{resp.StatusCode, resp.Header, b}
}

func jsonError(t *testing.T, r response) ErrorBody {
	t.Helper()
	require.Contains(t, r.header.Get("Content-Type"), "application/json", string(r.body))
	var e ErrorBody
	require.NoError(t, json.Unmarshal(r.body, &e), string(r.body))
	require.Equal(t, r.code, e.Status)
	require.NotEmpty(t, e.Error)
	return e
}

func TestHealthzWithoutWarehouse(t *testing.T) {
	s := newServer(t, nil)
	r := do(t, s, "GET", "/healthz", "", nil)
	require.Equal(t, 200, r.code)
	var h HealthBody
	require.NoError(t, json.Unmarshal(r.body, &h))
	require.Equal(t, "ok", h.Status)
	require.Nil(t, h.Warehouse)
	require.Equal(t, []PipelineStatus{{Name: "collect", State: "running"}}, h.Pipelines)
}

func TestHealthzWithWarehouse(t *testing.T) {
	s := newServer(t, needWarehouse(t))
	r := do(t, s, "GET", "/healthz", "", nil)
	require.Equal(t, 200, r.code, string(r.body))
	var h HealthBody
	require.NoError(t, json.Unmarshal(r.body, &h))
	require.Equal(t, "ok", h.Status)
	require.Equal(t, &WarehouseHealth{Backend: "chdb", OK: true}, h.Warehouse)
}

func TestHealthzDegradedOnFailedPipeline(t *testing.T) {
	c := testConfig(t)
	s, err := New(Deps{Config: c, Pipelines: func() []PipelineStatus {
		return []PipelineStatus{{Name: "detect", State: "failed", Error: "boom"}}
	}}, testToken)
	require.NoError(t, err)
	r := do(t, s, "GET", "/healthz", "", nil)
	require.Equal(t, 503, r.code)
	require.Contains(t, string(r.body), `"status":"degraded"`)
}

func TestMetrics(t *testing.T) {
	s := newServer(t, nil)
	do(t, s, "GET", "/healthz", "", nil)
	do(t, s, "GET", "/no/such/route/42", "", nil)
	r := do(t, s, "GET", "/metrics", "", nil)
	require.Equal(t, 200, r.code)
	require.Contains(t, string(r.body), "go_goroutines")
	require.Contains(t, string(r.body), `amoskys_api_requests_total{route="/healthz",status="2xx"}`)
	require.Contains(t, string(r.body), `amoskys_api_requests_total{route="unmatched",status="4xx"}`)
	require.NotContains(t, string(r.body), "/no/such/route/42")
	off := newServer(t, nil, func(c *config.Config) { c.Metrics.Enabled = false })
	require.Equal(t, 404, do(t, off, "GET", "/metrics", "", nil).code)
}

func TestJSONErrorsForUnknownRoutesAndMethods(t *testing.T) {
	s := newServer(t, nil)
	r := do(t, s, "GET", "/nope", "", nil)
	require.Equal(t, 404, r.code)
	require.Equal(t, "no route GET /nope", jsonError(t, r).Error)
	r = do(t, s, "DELETE", "/healthz", "", nil)
	require.Equal(t, 405, r.code)
	require.Equal(t, "method DELETE not allowed on /healthz", jsonError(t, r).Error)
	r = do(t, s, "GET", "/api/sql", testToken, nil)
	require.Equal(t, 405, r.code)
	jsonError(t, r)
}

func TestAuth(t *testing.T) {
	s := newServer(t, nil)
	body := []byte(`{"query":"SELECT 1"}`)
	for name, tok := range map[string]string{"missing": "", "wrong": "nope", "prefix": testToken[:5]} {
		t.Run(name, func(t *testing.T) {
			r := do(t, s, "POST", "/api/sql", tok, body)
			require.Equal(t, 401, r.code)
			jsonError(t, r)
			require.Contains(t, r.header.Get("WWW-Authenticate"), "Bearer")
		})
	}
	// Unknown routes under /api are behind the token too: no probing without it.
	require.Equal(t, 401, do(t, s, "GET", "/api/whatever", "", nil).code)
	require.Equal(t, 404, do(t, s, "GET", "/api/whatever", testToken, nil).code)
}

func TestSQLBadRequests(t *testing.T) {
	s := newServer(t, nil)
	cases := []struct {
		name string
		body string
		code int
		msg  string
	}{
		{"empty body", ``, 400, "invalid JSON body: empty body (want {\"query\": \"SELECT ...\", \"format\": \"json|tsv|table\"})"},
		{"not json", `SELECT 1`, 400, "invalid JSON body: syntax error at byte 1 (want {\"query\": \"SELECT ...\", \"format\": \"json|tsv|table\"})"},
		{"unknown field", `{"query":"SELECT 1","limit":5}`, 400, `invalid JSON body: json: unknown field "limit" (want {"query": "SELECT ...", "format": "json|tsv|table"})`},
		{"wrong type", `{"query":42}`, 400, `invalid JSON body: field "query" must be a string (want {"query": "SELECT ...", "format": "json|tsv|table"})`},
		{"two values", `{"query":"SELECT 1"}{"query":"SELECT 2"}`, 400, "invalid JSON body: more than one JSON value"},
		{"empty query", `{"query":"  ;  "}`, 400, "query is empty"},
		{"bad format", `{"query":"SELECT 1","format":"xml"}`, 400, `format "xml": format must be one of json, tsv, table`},
		{"insert", `{"query":"INSERT INTO alerts SELECT * FROM alerts"}`, 403, ""},
		{"drop", `{"query":"DROP TABLE alerts"}`, 403, ""},
		{"create", `{"query":"create table x (a Int8) engine=Memory"}`, 403, ""},
		{"two statements", `{"query":"SELECT 1; DROP TABLE alerts"}`, 403, ""},
		{"no warehouse", `{"query":"SELECT 1"}`, 503, `this process (role "all") has no warehouse`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s, "POST", "/api/sql", testToken, []byte(tc.body))
			require.Equal(t, tc.code, r.code, string(r.body))
			e := jsonError(t, r)
			if tc.msg != "" {
				require.Equal(t, tc.msg, e.Error)
			}
		})
	}
}

// Over a real socket: a body over MaxBodyBytes gets 413 JSON; Shutdown ends Serve.
func TestServeBodyLimitAndShutdown(t *testing.T) {
	s := newServer(t, nil, func(c *config.Config) { c.API.Listen = "127.0.0.1:0" })
	ln, err := s.Listen()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	url := "http://" + ln.Addr().String()

	resp, err := http.Get(url + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)

	// Announce a body over the limit: the server answers 413 before reading it (a client still
	// writing a large body could see the connection reset, so the body is not sent).
	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	_, err = fmt.Fprintf(conn, "POST /api/sql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", testToken, MaxBodyBytes+1)
	require.NoError(t, err)
	resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	conn.Close()
	require.Equal(t, 413, resp.StatusCode)
	jsonError(t, response{resp.StatusCode, resp.Header, b})

	require.NoError(t, s.Shutdown(t.Context()))
	require.NoError(t, <-done)
}

func TestSQLOnEmbeddedWarehouse(t *testing.T) {
	w := needWarehouse(t)
	s := newServer(t, w, func(c *config.Config) { c.API.SQLMaxRows = 10 })
	post := func(q, format string) response {
		b, _ := json.Marshal(SQLRequest{Query: q, Format: format})
		return do(t, s, "POST", "/api/sql", testToken, b)
	}

	r := post("SELECT version() AS v, 1 + 1 AS two;", "")
	require.Equal(t, 200, r.code, string(r.body))
	var jr JSONResult
	require.NoError(t, json.Unmarshal(r.body, &jr))
	require.Equal(t, []string{"v", "two"}, jr.Columns)
	require.Equal(t, 1, jr.RowsReturned)
	var row []any
	require.NoError(t, json.Unmarshal(jr.Rows[0], &row))
	require.True(t, strings.HasPrefix(row[0].(string), "26."), "version %v", row[0])
	require.EqualValues(t, 2, row[1])

	r = post("SELECT number AS n, toString(number) AS s FROM numbers(100)", "json")
	require.Equal(t, 200, r.code)
	require.NoError(t, json.Unmarshal(r.body, &jr))
	require.Equal(t, 10, jr.RowsReturned)
	require.True(t, jr.Truncated)

	r = post("SELECT number AS n FROM numbers(3)", "tsv")
	require.Equal(t, 200, r.code)
	require.Equal(t, "n\n0\n1\n2\n", string(r.body))
	require.Empty(t, r.header.Get(TruncatedHeader))

	r = post("SELECT number AS n FROM numbers(20)", "tsv")
	require.Equal(t, "true", r.header.Get(TruncatedHeader))
	require.Equal(t, 11, strings.Count(string(r.body), "\n"))

	r = post("SELECT 'a\tb' AS name, 7 AS value", "table")
	require.Equal(t, 200, r.code)
	require.Equal(t, "name | value\n-----+------\na\\tb | 7\n(1 row)\n", string(r.body))

	r = post("SELECT * FROM no_such_table_here", "json")
	require.Equal(t, 422, r.code)
	require.Contains(t, jsonError(t, r).Error, "no_such_table_here")

	r = post("SELECT 1 +", "json")
	require.Equal(t, 422, r.code)
	require.Contains(t, jsonError(t, r).Error, "Syntax error")
}

func TestRegisterRoutes(t *testing.T) {
	// The registry is process-wide: take this test's routes out again so that tests which
	// compare the app's routes with openapi.json don't see them, in any shuffle order.
	routesMu.Lock()
	saved := append([]RouteFunc(nil), routes...)
	routesMu.Unlock()
	t.Cleanup(func() {
		routesMu.Lock()
		routes = saved
		routesMu.Unlock()
	})
	var got Deps
	RegisterRoutes(func(r fiber.Router, d Deps) {
		got = d
		r.Get("/api/test-registered", func(c *fiber.Ctx) error { return c.JSON(map[string]string{"ok": "yes"}) })
		r.Get("/test-open", func(c *fiber.Ctx) error { return c.SendString("open") })
	})
	s := newServer(t, nil)
	require.NotNil(t, got.Config)
	require.Equal(t, 401, do(t, s, "GET", "/api/test-registered", "", nil).code)
	r := do(t, s, "GET", "/api/test-registered", testToken, nil)
	require.Equal(t, 200, r.code)
	require.JSONEq(t, `{"ok":"yes"}`, string(r.body))
	require.Equal(t, "open", string(do(t, s, "GET", "/test-open", "", nil).body))
}

func TestResolveToken(t *testing.T) {
	c := testConfig(t)
	env := map[string]string{}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	env[c.API.TokenEnv] = "  from-env  "
	tok, err := ResolveToken(c, lookup, nil)
	require.NoError(t, err)
	require.Equal(t, "from-env", tok)
	_, err = os.Stat(TokenPath(c))
	require.True(t, os.IsNotExist(err), "no file when the env var is set")

	delete(env, c.API.TokenEnv)
	var logs bytes.Buffer
	tok, err = ResolveToken(c, lookup, slogTo(&logs))
	require.NoError(t, err)
	require.Len(t, tok, 64)
	fi, err := os.Stat(TokenPath(c))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.NotContains(t, logs.String(), tok, "the token is never logged")
	require.Contains(t, logs.String(), TokenPath(c))
	read, err := ReadToken(c, lookup)
	require.NoError(t, err)
	require.Equal(t, tok, read)

	c2 := testConfig(t)
	_, err = ReadToken(c2, lookup)
	require.ErrorContains(t, err, "no API token: set AMOSKYS_API_TOKEN")
}

func TestRenderTableEscapesControls(t *testing.T) {
	jr, err := parseCompact([]byte("[\"cmd\"]\n[\"String\"]\n[\"a\\u001b[31mred\\nb\"]\n"), Limits{})
	require.NoError(t, err)
	require.Equal(t, "cmd\n---------------\na\\x1b[31mred\\nb\n(1 row)\n", string(RenderTable(jr)))
}

func TestRenderTableEmpty(t *testing.T) {
	require.Equal(t, "(0 rows)\n", string(RenderTable(&JSONResult{})))
	jr, err := parseCompact([]byte("[\"a\"]\n[\"String\"]\n"), Limits{})
	require.NoError(t, err)
	require.Equal(t, "a\n-\n(0 rows)\n", string(RenderTable(jr)))
	_, err = parseCompact([]byte("[\"a\"]\n[\"String\"]\n{bad"), Limits{})
	require.Error(t, err)
}
