package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/alertstore"
	"github.com/amoskys/amoskys/schemas"
)

var at0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func mkAlert(i int, host string, sev schemas.Severity) *schemas.AlertEvent {
	s := 0.9
	t := at0.Add(time.Duration(i) * time.Second)
	return &schemas.AlertEvent{SchemaVersion: 1, ID: fmt.Sprintf("al%04d", i), Time: t, Host: host, EntityKind: "process",
		Entity: fmt.Sprintf("/usr/bin/tool%d", i%3), Title: "Test alert", Severity: sev, Score: 0.9, Count: 1, Version: 1,
		FirstSeen: t, LastSeen: t, Status: schemas.StatusOpen, EvidenceIDs: []string{"ev1"},
		Layers: []schemas.LayerBreakdown{{Layer: "geometric", Score: &s, Weight: 1, Contribution: 0.9,
			Reasons: []schemas.Reason{{ID: "r1", Title: "Rule", Text: "a rule fired"}}}}}
}

// alertsApp is the alert routes alone on a private hub and store (no auth: the server adds it).
func alertsApp(t *testing.T) (*fiber.App, *alertstore.Store) {
	st := alertstore.NewStore(nil, 1000, alertstore.NewHub())
	app := fiber.New(fiber.Config{DisableStartupMessage: true, ErrorHandler: func(c *fiber.Ctx, err error) error {
		return JSONError(c, 500, "%v", err)
	}})
	MountAlerts(app, AlertsDeps{Store: st, Now: func() time.Time { return at0.Add(time.Hour) }, Heartbeat: 50 * time.Millisecond, StreamFor: 10 * time.Second})
	return app, st
}

func call(t *testing.T, app *fiber.App, method, path, body string) (int, []byte) {
	t.Helper()
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	resp, err := app.Test(req, -1)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b []byte
	b, err = readAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

func readAll(r interface{ Read([]byte) (int, error) }) ([]byte, error) {
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			if err.Error() == "EOF" {
				return out, nil
			}
			return out, err
		}
	}
}

type page struct {
	Alerts     []schemas.AlertEvent `json:"alerts"`
	Count      int                  `json:"count"`
	NextCursor string               `json:"next_cursor"`
}

func TestAlertRoutes(t *testing.T) {
	app, st := alertsApp(t)
	for i := range 20 {
		st.Index.Put(mkAlert(i, []string{"web1", "db1"}[i%2], schemas.Severities[i%4]))
	}
	code, b := call(t, app, "GET", "/api/alerts/recent?limit=5", "")
	require.Equal(t, 200, code, string(b))
	var p page
	require.NoError(t, json.Unmarshal(b, &p))
	require.Equal(t, 5, p.Count)
	require.Equal(t, "al0019", p.Alerts[0].ID)
	require.NotEmpty(t, p.NextCursor)
	code, b = call(t, app, "GET", "/api/alerts/recent?limit=5&cursor="+p.NextCursor, "")
	require.Equal(t, 200, code)
	require.NoError(t, json.Unmarshal(b, &p))
	require.Equal(t, "al0014", p.Alerts[0].ID)

	code, b = call(t, app, "GET", "/api/alerts/recent?severity=critical,HIGH&host=db1&process=tool&since="+at0.Add(5*time.Second).Format(time.RFC3339), "")
	require.Equal(t, 200, code, string(b))
	p = page{}
	require.NoError(t, json.Unmarshal(b, &p))
	require.Equal(t, 4, p.Count) // db1 is odd i; HIGH or CRITICAL is i%4 in {2,3}: i = 7, 11, 15, 19 from 5 on
	for _, a := range p.Alerts {
		require.Equal(t, "db1", a.Host)
		require.Contains(t, []schemas.Severity{schemas.SeverityHigh, schemas.SeverityCritical}, a.Severity)
	}
	require.Empty(t, p.NextCursor)

	code, b = call(t, app, "GET", "/api/alerts/al0003", "")
	require.Equal(t, 200, code, string(b))
	var d AlertDetail
	require.NoError(t, json.Unmarshal(b, &d))
	require.Equal(t, "al0003", d.Alert.ID)
	require.Len(t, d.Alert.Layers, 1)
	require.Equal(t, "a rule fired", d.Alert.Layers[0].Reasons[0].Text)

	code, b = call(t, app, "POST", "/api/alerts/al0003/ack", `{"by":"ana"}`)
	require.Equal(t, 200, code, string(b))
	var a schemas.AlertEvent
	require.NoError(t, json.Unmarshal(b, &a))
	require.Equal(t, schemas.StatusAcknowledged, a.Status)
	require.Equal(t, "ana", a.StatusBy)
	require.Equal(t, at0.Add(time.Hour), *a.StatusAt)
	code, b = call(t, app, "POST", "/api/alerts/al0003/resolve", "")
	require.Equal(t, 200, code, string(b))
	require.NoError(t, json.Unmarshal(b, &a))
	require.Equal(t, schemas.StatusResolved, a.Status)
	require.Equal(t, TokenIdentity, a.StatusBy)
	code, b = call(t, app, "GET", "/api/alerts/recent?status=resolved", "")
	require.Equal(t, 200, code)
	require.NoError(t, json.Unmarshal(b, &p))
	require.Equal(t, 1, p.Count)

	code, b = call(t, app, "GET", "/api/stats?since="+at0.Format(time.RFC3339)+"&bucket=5m", "")
	require.Equal(t, 200, code, string(b))
	var s alertstore.Stats
	require.NoError(t, json.Unmarshal(b, &s))
	require.EqualValues(t, 20, s.Total)
	require.EqualValues(t, 5, s.BySeverity["LOW"])
	require.EqualValues(t, 10, s.ByHost["web1"])
	require.EqualValues(t, 20, s.ByLayer["geometric"])

	// host= narrows every count to that host's alerts
	code, b = call(t, app, "GET", "/api/stats?host=db1&since="+at0.Format(time.RFC3339)+"&bucket=5m", "")
	require.Equal(t, 200, code, string(b))
	s = alertstore.Stats{}
	require.NoError(t, json.Unmarshal(b, &s))
	require.EqualValues(t, 10, s.Total)
	require.Equal(t, map[string]int64{"db1": 10}, s.ByHost)
	require.EqualValues(t, 5, s.BySeverity["MEDIUM"]) // db1 is odd i: i%4 in {1,3}, 5 each
	require.EqualValues(t, 5, s.BySeverity["CRITICAL"])
	require.EqualValues(t, 10, s.ByLayer["geometric"])
	var inSeries int64
	for _, bk := range s.Series {
		for _, n := range bk.BySeverity {
			inSeries += n
		}
	}
	require.EqualValues(t, 10, inSeries)
	code, b = call(t, app, "GET", "/api/stats?host=nohost", "")
	require.Equal(t, 200, code, string(b))
	s = alertstore.Stats{}
	require.NoError(t, json.Unmarshal(b, &s))
	require.Zero(t, s.Total)

	code, b = call(t, app, "GET", "/api/alerts/nope", "")
	require.Equal(t, 404, code, string(b))
}

func TestAlertParamsValidated(t *testing.T) {
	app, _ := alertsApp(t)
	bad := []struct{ method, path, body, want string }{
		{"GET", "/api/alerts/recent?limit=0", "", "limit"},
		{"GET", "/api/alerts/recent?limit=1001", "", "limit"},
		{"GET", "/api/alerts/recent?limit=ten", "", "limit"},
		{"GET", "/api/alerts/recent?severity=SEVERE", "", "severity"},
		{"GET", "/api/alerts/recent?status=closed", "", "status"},
		{"GET", "/api/alerts/recent?host=a%27%20OR%201=1", "", "host"},
		{"GET", "/api/alerts/recent?process=%00x", "", "process"},
		{"GET", "/api/alerts/recent?since=yesterday", "", "since"},
		{"GET", "/api/alerts/recent?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "", "until"},
		{"GET", "/api/alerts/recent?cursor=1_a%27b", "", "cursor"},
		{"GET", "/api/alerts/recent?limt=5", "", "limt"},
		{"GET", "/api/alerts/a%27b", "", "id"},
		{"GET", "/api/alerts/al0001?x=1", "", "query"},
		{"POST", "/api/alerts/al0001/ack", `{"by":"<script>"}`, "by"},
		{"POST", "/api/alerts/al0001/ack", `{"who":"ana"}`, "body"},
		{"POST", "/api/alerts/al0001/resolve", `not json`, "body"},
		{"GET", "/api/stats?bucket=1s", "", "bucket"},
		{"GET", "/api/stats?bucket=1m&since=0", "", "bucket"},
		{"GET", "/api/stats?until=1&since=5", "", "until"},
		{"GET", "/api/stats?host=a%27%20OR%201=1", "", "host"},
		{"GET", "/api/stats?host=" + strings.Repeat("h", 254), "", "host"},
		{"GET", "/api/stats?hosts=x", "", "hosts"},
		{"GET", "/api/alerts/stream?severity=bad", "", "severity"},
	}
	for _, c := range bad {
		t.Run(c.path, func(t *testing.T) {
			code, b := call(t, app, c.method, c.path, c.body)
			require.Equal(t, 400, code, string(b))
			var e ErrorBody
			require.NoError(t, json.Unmarshal(b, &e), string(b))
			require.Equal(t, 400, e.Status)
			require.Contains(t, e.Error, c.want)
		})
	}
}

func TestAlertStreamLiveAndResume(t *testing.T) {
	app, st := alertsApp(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = app.Listener(ln) }()
	defer app.Shutdown()
	base := "http://" + ln.Addr().String()

	open := func(last string) (*bufio.Reader, func()) {
		req, err := http.NewRequestWithContext(t.Context(), "GET", base+"/api/alerts/stream", nil)
		require.NoError(t, err)
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
		return bufio.NewReader(resp.Body), func() { resp.Body.Close() }
	}
	next := func(r *bufio.Reader) (id string, a schemas.AlertEvent) {
		for {
			line, err := r.ReadString('\n')
			require.NoError(t, err)
			switch {
			case strings.HasPrefix(line, "id: "):
				id = strings.TrimSpace(line[4:])
			case strings.HasPrefix(line, "data: "):
				require.NoError(t, json.Unmarshal([]byte(line[6:]), &a))
				return id, a
			}
		}
	}
	r, closeFn := open("")
	// the subscription exists once the preamble arrived
	_, err = r.ReadString('\n')
	require.NoError(t, err)
	require.Eventually(t, func() bool { return st.Hub.Subscribers() == 1 }, 5*time.Second, 10*time.Millisecond)
	for i := range 3 {
		a := mkAlert(i, "web1", schemas.SeverityHigh)
		st.Index.Put(a)
		st.Hub.Publish(a)
	}
	id0, a0 := next(r)
	require.Equal(t, "al0000", a0.ID)
	_, a1 := next(r)
	require.Equal(t, "al0001", a1.ID)
	closeFn()

	// resume after the first: the two after it are replayed
	r, closeFn = open(id0)
	defer closeFn()
	_, a := next(r)
	require.Equal(t, "al0001", a.ID)
	_, a = next(r)
	require.Equal(t, "al0002", a.ID)
}

// TestOpenAPIQueryParameters: the query parameters openapi.json documents for each alert route
// are exactly those the route accepts.
func TestOpenAPIQueryParameters(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(OpenAPI, &doc))
	for route, path := range map[string]string{"recent": "/api/alerts/recent", "stats": "/api/stats", "stream": "/api/alerts/stream"} {
		var got []string
		for _, p := range doc.Paths[path]["get"].Parameters {
			if p.In == "query" {
				got = append(got, p.Name)
			}
		}
		want := append([]string(nil), allowed[route]...)
		sort.Strings(got)
		sort.Strings(want)
		require.Equal(t, want, got, path)
	}
}

// TestOpenAPIMatchesRoutes keeps internal/api/openapi.json and the app's routes in step.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := newServer(t, nil)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(OpenAPI, &doc))
	inDoc := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			inDoc[strings.ToUpper(m)+" "+p] = true
		}
	}
	param := regexp.MustCompile(`:(\w+)`)
	inApp := map[string]bool{}
	for _, r := range s.App().GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "USE" || len(r.Handlers) == 0 {
			continue
		}
		inApp[r.Method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	var missing, extra []string
	for k := range inApp {
		if !inDoc[k] {
			missing = append(missing, k)
		}
	}
	for k := range inDoc {
		if !inApp[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	require.Empty(t, missing, "routes missing from openapi.json")
	require.Empty(t, extra, "openapi.json paths with no route")

	// and the document is served, behind the token
	r := do(t, s, "GET", "/api/openapi.json", testToken, nil)
	require.Equal(t, 200, r.code)
	require.JSONEq(t, string(OpenAPI), string(r.body))
	r = do(t, s, "GET", "/api/alerts/recent", "", nil)
	require.Equal(t, 401, r.code)
	r = do(t, s, "GET", "/", "", nil)
	require.Equal(t, 200, r.code)
	require.Contains(t, string(r.body), "Cortex")
}

func TestParseWrk(t *testing.T) {
	out := `Running 10s test @ http://127.0.0.1:1/api/alerts/recent?limit=50
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  500.00us  12.00ms   90.00%
  Latency Distribution
     50%    1.05ms
     75%    1.40ms
     90%    1.90ms
     99%  950.00us
  250000 requests in 10.00s, 1.00GB read
  Non-2xx or 3xx responses: 3
Requests/sec:  25000.50
Transfer/sec:    100.00MB
`
	r := parseWrk(out)
	require.InDelta(t, 25000.5, r.ReqPerSec, 1e-9)
	require.Equal(t, 1050*time.Microsecond, r.P50)
	require.Equal(t, 950*time.Microsecond, r.P99)
	require.EqualValues(t, 3, r.Non2xx)
}

func TestRecentPageCacheFollowsTheIndex(t *testing.T) {
	app, st := alertsApp(t)
	st.Index.Put(mkAlert(1, "web1", schemas.SeverityHigh))
	var p page
	_, b := call(t, app, "GET", "/api/alerts/recent?limit=5", "")
	require.NoError(t, json.Unmarshal(b, &p))
	require.Equal(t, 1, p.Count)
	_, b2 := call(t, app, "GET", "/api/alerts/recent?limit=5", "")
	require.Equal(t, b, b2)
	st.Index.Put(mkAlert(2, "web1", schemas.SeverityHigh))
	_, b = call(t, app, "GET", "/api/alerts/recent?limit=5", "")
	require.NoError(t, json.Unmarshal(b, &p))
	require.Equal(t, 2, p.Count, "a new alert invalidates the cached page")
	require.Equal(t, "al0002", p.Alerts[0].ID)
}
