package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v2"

	"github.com/amoskys/amoskys/internal/alertstore"
	"github.com/amoskys/amoskys/plugins/bus"
	"github.com/amoskys/amoskys/schemas"
)

// AlertsDeps is what the alert routes need.
type AlertsDeps struct {
	Store *alertstore.Store
	// Now is the wall clock for lifecycle times and the defaults of /api/stats (tests inject one).
	Now func() time.Time
	// StreamFor bounds one /api/alerts/stream response; the client reconnects with Last-Event-ID.
	StreamFor time.Duration
	// Heartbeat is the interval of SSE comment lines that keep idle connections open.
	Heartbeat time.Duration
}

// AlertIndexCapacity is how many recent alerts the API holds in memory.
const AlertIndexCapacity = 100000

var (
	storeOnce sync.Once
	procStore *alertstore.Store
	procWarm  = make(chan struct{}) // closed when the index has loaded the warehouse's newest alerts
)

func init() {
	RegisterRoutes(func(r fiber.Router, d Deps) {
		// One store per process: the index follows the process-wide hub for the process' life.
		storeOnce.Do(func() {
			procStore = alertstore.NewStore(d.Warehouse, AlertIndexCapacity, alertstore.Default)
			procStore.Attach() // for the process' life
			// Warm in the background: until it is done the index says it is truncated and
			// pages fall back to the warehouse, so answers are complete from the first request.
			go func() {
				defer close(procWarm)
				if err := procStore.Warm(context.Background()); err != nil && d.Logger != nil {
					d.Logger.Warn("api: loading recent alerts from the warehouse", "err", err)
				}
			}()
			// In one process the alert stage feeds the hub directly; a durable bus means the
			// detector may run elsewhere, so the API also reads the alerts topic.
			if d.BusDSN != "" && !strings.HasPrefix(d.BusDSN, "gochannel:") {
				if err := followBus(d); err != nil && d.Logger != nil {
					d.Logger.Warn("api: reading the alerts topic", "err", err)
				}
			}
		})
		MountAlerts(r, AlertsDeps{Store: procStore})
		MountDashboard(r)
	})
}

func followBus(d Deps) error {
	b, err := bus.Open(d.BusDSN)
	if err != nil {
		return err
	}
	return procStore.FollowBus(context.Background(), b, "api", func(err error) {
		if d.Logger != nil {
			d.Logger.Warn("api: alerts topic", "err", err)
		}
	})
}

// MountAlerts adds the alert routes to r.
func MountAlerts(r fiber.Router, d AlertsDeps) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.StreamFor == 0 {
		d.StreamFor = 5 * time.Minute
	}
	if d.Heartbeat == 0 {
		d.Heartbeat = 15 * time.Second
	}
	h := &alertsHandler{d: d, cache: map[string]cachedPage{}}
	r.Get("/api/alerts/recent", h.recent)
	r.Get("/api/alerts/stream", h.stream)
	r.Get("/api/alerts/:id", h.get)
	r.Post("/api/alerts/:id/ack", h.lifecycle(schemas.StatusAcknowledged))
	r.Post("/api/alerts/:id/resolve", h.lifecycle(schemas.StatusResolved))
	r.Get("/api/stats", h.stats)
	r.Get("/api/openapi.json", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
		return c.Send(OpenAPI)
	})
}

type alertsHandler struct {
	d     AlertsDeps
	mu    sync.Mutex
	cache map[string]cachedPage // by raw query string; valid while the index generation is unchanged
}

type cachedPage struct {
	gen  uint64
	body []byte
}

// maxCachedPages bounds the page cache; it is cleared when full.
const maxCachedPages = 256

// badParam is a 400 with the parameter named.
type badParam struct{ name, msg string }

func (e *badParam) Error() string { return e.name + ": " + e.msg }

func fail(c *fiber.Ctx, err error) error {
	var bp *badParam
	switch {
	case errors.As(err, &bp):
		return JSONError(c, fiber.StatusBadRequest, "%s", err.Error())
	case errors.Is(err, alertstore.ErrNotFound):
		return JSONError(c, fiber.StatusNotFound, "%s", err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return JSONError(c, fiber.StatusGatewayTimeout, "warehouse query timed out")
	}
	return err
}

var (
	hostRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,253}$`)
	// whoRe is compiled on first use: its Unicode classes repeated 64 times compile to 1.3 MB of
	// heap, which every process of the binary (the collect-only agent too) would otherwise hold.
	whoRe   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\p{L}\p{N} ._@+-]{1,64}$`) })
	allowed = map[string][]string{
		"recent": {"limit", "severity", "host", "process", "status", "since", "until", "cursor"},
		"stats":  {"since", "until", "bucket", "host"},
		"stream": {"severity", "host"},
	}
)

// checkParams refuses parameters the route does not know: a typo must not silently widen a query.
func checkParams(c *fiber.Ctx, route string) error {
	var err error
	c.Context().QueryArgs().VisitAll(func(k, _ []byte) {
		if err != nil {
			return
		}
		name := string(k)
		for _, a := range allowed[route] {
			if a == name {
				return
			}
		}
		err = &badParam{name, fmt.Sprintf("unknown parameter; allowed: %s", strings.Join(allowed[route], ", "))}
	})
	return err
}

func parseSeverities(s string) ([]schemas.Severity, error) {
	if s == "" {
		return nil, nil
	}
	var out []schemas.Severity
	for _, p := range strings.Split(s, ",") {
		v := schemas.Severity(strings.ToUpper(strings.TrimSpace(p)))
		if v.Rank() == 0 {
			return nil, &badParam{"severity", fmt.Sprintf("%q is not one of LOW, MEDIUM, HIGH, CRITICAL (comma-separated)", p)}
		}
		out = append(out, v)
	}
	return out, nil
}

func parseStatuses(s string) ([]schemas.AlertStatus, error) {
	if s == "" {
		return nil, nil
	}
	var out []schemas.AlertStatus
	for _, p := range strings.Split(s, ",") {
		v := schemas.AlertStatus(strings.ToLower(strings.TrimSpace(p)))
		if !alertstore.ValidStatus(v) {
			return nil, &badParam{"status", fmt.Sprintf("%q is not one of open, acknowledged, resolved (comma-separated)", p)}
		}
		out = append(out, v)
	}
	return out, nil
}

// parseTime takes RFC 3339 or unix seconds.
func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		if t.Year() < 1970 || t.Year() > 2200 {
			return time.Time{}, &badParam{name, "out of range 1970..2200"}
		}
		return t.UTC(), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 && n < 7258118400 {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Time{}, &badParam{name, fmt.Sprintf("%q is not an RFC 3339 time or unix seconds", s)}
}

func parseHost(s string) (string, error) {
	if s != "" && !hostRe.MatchString(s) {
		return "", &badParam{"host", "1..253 characters of letters, digits, '.', '_', ':', '-'"}
	}
	return s, nil
}

func parseProcess(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if len(s) > 256 || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return "", &badParam{"process", "up to 256 printable characters"}
	}
	return s, nil
}

// ParseAlertFilter validates the query of /api/alerts/recent into a typed filter.
func ParseAlertFilter(c *fiber.Ctx) (alertstore.Filter, error) {
	f := alertstore.Filter{Limit: 50}
	if err := checkParams(c, "recent"); err != nil {
		return f, err
	}
	var err error
	if s := c.Query("limit"); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 1 || n > alertstore.MaxLimit {
			return f, &badParam{"limit", fmt.Sprintf("%q is not an integer within 1..%d", s, alertstore.MaxLimit)}
		}
		f.Limit = n
	}
	if f.Severities, err = parseSeverities(c.Query("severity")); err != nil {
		return f, err
	}
	if f.Statuses, err = parseStatuses(c.Query("status")); err != nil {
		return f, err
	}
	if f.Host, err = parseHost(c.Query("host")); err != nil {
		return f, err
	}
	if f.Process, err = parseProcess(c.Query("process")); err != nil {
		return f, err
	}
	if f.Since, err = parseTime("since", c.Query("since")); err != nil {
		return f, err
	}
	if f.Until, err = parseTime("until", c.Query("until")); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, &badParam{"until", "must be after since"}
	}
	if s := c.Query("cursor"); s != "" {
		cur, perr := alertstore.ParseCursor(s)
		if perr != nil {
			return f, &badParam{"cursor", perr.Error()}
		}
		f.Cursor = &cur
	}
	return f, nil
}

func (h *alertsHandler) recent(c *fiber.Ctx) error {
	f, err := ParseAlertFilter(c)
	if err != nil {
		return fail(c, err)
	}
	// Dashboards poll the same few pages: answer from the rendered page while the index is
	// unchanged. A relative time (since) is absolute here, so the raw query is the key.
	key := string(c.Context().QueryArgs().QueryString())
	gen := h.d.Store.Index.Gen()
	h.mu.Lock()
	cp, hit := h.cache[key]
	h.mu.Unlock()
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	if hit && cp.gen == gen {
		return c.Send(cp.body)
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 10*time.Second)
	defer cancel()
	rows, next, usedWarehouse, err := h.d.Store.RecentPage(ctx, f)
	if err != nil {
		return fail(c, err)
	}
	// The alerts are already JSON: assemble the body without decoding them again.
	b := make([]byte, 0, 64+len(rows)*1024)
	b = append(b, `{"alerts":[`...)
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r...)
	}
	b = append(b, `],"count":`...)
	b = strconv.AppendInt(b, int64(len(rows)), 10)
	if next != nil {
		b = append(b, `,"next_cursor":`...)
		b = strconv.AppendQuote(b, next.String())
	}
	b = append(b, '}')
	if !usedWarehouse {
		h.mu.Lock()
		if len(h.cache) >= maxCachedPages {
			clear(h.cache)
		}
		h.cache[key] = cachedPage{gen: gen, body: b}
		h.mu.Unlock()
	}
	return c.Send(b)
}

// AlertDetail is the body of GET /api/alerts/{id}.
type AlertDetail struct {
	Alert         *schemas.AlertEvent `json:"alert"`
	Evidence      []json.RawMessage   `json:"evidence"`
	EvidenceError string              `json:"evidence_error,omitempty"`
}

func alertID(c *fiber.Ctx) (string, error) {
	id := c.Params("id")
	if !alertstore.ValidID(id) {
		return "", &badParam{"id", "1..128 characters of letters, digits, '_', '.', ':', '-'"}
	}
	return id, nil
}

func (h *alertsHandler) get(c *fiber.Ctx) error {
	id, err := alertID(c)
	if err != nil {
		return fail(c, err)
	}
	if len(c.Context().QueryArgs().QueryString()) > 0 {
		return fail(c, &badParam{"query", "this route takes no parameters"})
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 10*time.Second)
	defer cancel()
	a, err := h.d.Store.Get(ctx, id)
	if err != nil {
		return fail(c, err)
	}
	d := AlertDetail{Alert: a, Evidence: []json.RawMessage{}}
	ev, err := h.d.Store.Evidence(ctx, a.EvidenceIDs)
	if err != nil {
		d.EvidenceError = err.Error()
	}
	d.Evidence = append(d.Evidence, ev...)
	return c.JSON(d)
}

// LifecycleRequest is the optional body of ack and resolve.
type LifecycleRequest struct {
	By string `json:"by"`
}

// TokenIdentity is who a lifecycle change is recorded as when the body names nobody.
const TokenIdentity = "api-token"

func (h *alertsHandler) lifecycle(status schemas.AlertStatus) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := alertID(c)
		if err != nil {
			return fail(c, err)
		}
		var req LifecycleRequest
		if body := c.Body(); len(strings.TrimSpace(string(body))) > 0 {
			dec := json.NewDecoder(strings.NewReader(string(body)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				return fail(c, &badParam{"body", "want JSON {\"by\": \"name\"}: " + err.Error()})
			}
		}
		by := req.By
		if by == "" {
			by = TokenIdentity
		} else if !whoRe().MatchString(by) {
			return fail(c, &badParam{"by", "1..64 letters, digits, spaces and ._@+-"})
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), 10*time.Second)
		defer cancel()
		a, err := h.d.Store.SetStatus(ctx, id, status, by, h.d.Now())
		if err != nil {
			return fail(c, err)
		}
		return c.JSON(a)
	}
}

func (h *alertsHandler) stats(c *fiber.Ctx) error {
	if err := checkParams(c, "stats"); err != nil {
		return fail(c, err)
	}
	now := h.d.Now().UTC()
	since, err := parseTime("since", c.Query("since"))
	if err != nil {
		return fail(c, err)
	}
	until, err := parseTime("until", c.Query("until"))
	if err != nil {
		return fail(c, err)
	}
	if until.IsZero() {
		until = now
	}
	if since.IsZero() {
		since = until.Add(-24 * time.Hour)
	}
	if !until.After(since) {
		return fail(c, &badParam{"until", "must be after since"})
	}
	host, err := parseHost(c.Query("host"))
	if err != nil {
		return fail(c, err)
	}
	bucket := time.Hour
	if s := c.Query("bucket"); s != "" {
		if bucket, err = time.ParseDuration(s); err != nil || bucket < time.Minute || bucket%time.Second != 0 {
			return fail(c, &badParam{"bucket", "a duration of whole seconds, at least 1m (e.g. 5m, 1h)"})
		}
	}
	if until.Sub(since)/bucket > 10000 {
		return fail(c, &badParam{"bucket", "more than 10000 buckets: widen the bucket or narrow the range"})
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 15*time.Second)
	defer cancel()
	st, err := h.d.Store.StatsHost(ctx, host, since, until, bucket)
	if err != nil {
		return fail(c, err)
	}
	return c.JSON(st)
}

// stream serves Server-Sent Events: first the alerts after Last-Event-ID (from the index or the
// warehouse), then live alerts from the hub. Event ids are keyset cursors.
func (h *alertsHandler) stream(c *fiber.Ctx) error {
	if err := checkParams(c, "stream"); err != nil {
		return fail(c, err)
	}
	sevs, err := parseSeverities(c.Query("severity"))
	if err != nil {
		return fail(c, err)
	}
	host, err := parseHost(c.Query("host"))
	if err != nil {
		return fail(c, err)
	}
	f := alertstore.Filter{Limit: 1, Severities: sevs, Host: host}
	var from *alertstore.Cursor
	if s := c.Get("Last-Event-ID"); s != "" {
		cur, err := alertstore.ParseCursor(s)
		if err != nil {
			return fail(c, &badParam{"Last-Event-ID", err.Error()})
		}
		from = &cur
	}
	store, d := h.d.Store, h.d
	sub := store.Hub.Subscribe(1024)
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderConnection, "keep-alive")
	c.Set("X-Accel-Buffering", "no")
	ctx := context.WithoutCancel(c.UserContext())
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer sub.Cancel()
		send := func(a *schemas.AlertEvent, raw []byte) bool {
			if !f.Matches(a) {
				return true
			}
			if raw == nil {
				var err error
				if raw, err = json.Marshal(a); err != nil {
					return true
				}
			}
			fmt.Fprintf(w, "id: %s\nevent: alert\ndata: %s\n\n", alertstore.Cursor{Time: a.Time, ID: a.ID}.String(), raw)
			return w.Flush() == nil
		}
		fmt.Fprintf(w, "retry: 2000\n: amoskys alerts stream\n\n")
		if w.Flush() != nil {
			return
		}
		if from != nil {
			qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			rows, err := store.After(qctx, *from, 1000)
			cancel()
			if err != nil {
				fmt.Fprintf(w, "event: error\ndata: %q\n\n", "replay: "+err.Error())
			}
			for _, a := range rows {
				if !send(a, nil) {
					return
				}
			}
		}
		end := time.NewTimer(d.StreamFor)
		defer end.Stop()
		beat := time.NewTicker(d.Heartbeat)
		defer beat.Stop()
		for {
			select {
			case a, ok := <-sub.C:
				if !ok {
					return // fell behind: the client reconnects with Last-Event-ID
				}
				if !send(a, nil) {
					return
				}
			case <-beat.C:
				fmt.Fprintf(w, ": keep-alive\n\n")
				if w.Flush() != nil {
					return
				}
			case <-end.C:
				return
			}
		}
	})
	return nil
}
