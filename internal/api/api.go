// Package api is the HTTP API of `amoskys run`: a Fiber server on 127.0.0.1:8080 by default with
// /healthz, /metrics and /api/sql, plus whatever routes other packages add from their init with
// RegisterRoutes. Everything under /api needs `Authorization: Bearer <token>`; every error,
// 404 and 405 included, is a JSON object {"error": "...", "status": N}.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/amoskys/amoskys/internal/config"
	"github.com/amoskys/amoskys/internal/metrics"
	"github.com/amoskys/amoskys/plugins/warehouse"
)

// PipelineStatus is the state of one pipeline, as /healthz reports it.
type PipelineStatus struct {
	Name  string `json:"name"`
	State string `json:"state"` // starting | running | stopping | stopped | finished | failed
	Error string `json:"error,omitempty"`
}

// Deps is what a route needs from the running process.
type Deps struct {
	Config *config.Config
	// Warehouse is the process' shared warehouse handle; nil when this role has none.
	Warehouse warehouse.Warehouse
	Logger    *slog.Logger
	// BusDSN is the resolved bus DSN (gochannel:// in one process): subscribe to topic "alerts" there.
	BusDSN string
	// Pipelines reports pipeline states for /healthz; nil means no pipelines.
	Pipelines func() []PipelineStatus
}

// RouteFunc adds routes to the API. Routes under /api are behind the bearer token; others are open.
type RouteFunc func(r fiber.Router, d Deps)

var (
	routesMu sync.Mutex
	routes   []RouteFunc
)

// RegisterRoutes adds fn to every API server built after this call; call it from init.
func RegisterRoutes(fn RouteFunc) {
	routesMu.Lock()
	defer routesMu.Unlock()
	routes = append(routes, fn)
}

// Server is the API of one process.
type Server struct {
	app  *fiber.App
	deps Deps
	tok  [32]byte
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

// New builds the API; token is the bearer token /api requires (see ResolveToken).
func New(deps Deps, token string) (*Server, error) {
	if deps.Config == nil {
		return nil, errors.New("api: Deps.Config is required")
	}
	if token == "" {
		return nil, errors.New("api: empty token")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{deps: deps, tok: sha256.Sum256([]byte(token))}
	s.app = fiber.New(fiber.Config{
		AppName:               "amoskys",
		DisableStartupMessage: true,
		BodyLimit:             MaxBodyBytes,
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		ErrorHandler:          s.errorHandler,
	})
	s.app.Use(recover.New())
	s.app.Use(observe)
	s.app.Get("/healthz", s.healthz)
	if deps.Config.Metrics.Enabled {
		s.app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{})))
	}
	s.app.Use("/api", s.auth)
	s.app.Post("/api/sql", s.sql)
	routesMu.Lock()
	fns := append([]RouteFunc(nil), routes...)
	routesMu.Unlock()
	for _, fn := range fns {
		fn(s.app, deps)
	}
	return s, nil
}

// App returns the Fiber app (tests use App().Test).
func (s *Server) App() *fiber.App { return s.app }

// Serve serves on ln until Shutdown; TLS from config wraps ln.
func (s *Server) Serve(ln net.Listener) error {
	t := s.deps.Config.API.TLS
	if t.CertFile != "" {
		tc, err := serverTLS(s.deps.Config, t)
		if err != nil {
			return err
		}
		ln = tls.NewListener(ln, tc)
	}
	return s.app.Listener(ln)
}

// Listen opens the configured address.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.deps.Config.API.Listen)
	if err != nil {
		return nil, fmt.Errorf("api: listening on %s: %w", s.deps.Config.API.Listen, err)
	}
	return ln, nil
}

// Shutdown stops accepting connections and waits for open requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.app.ShutdownWithContext(ctx) }

func serverTLS(c *config.Config, t config.TLSConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.Path(t.CertFile), c.Path(t.KeyFile))
	if err != nil {
		return nil, fmt.Errorf("api: loading TLS key pair: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if t.CAFile != "" {
		pem, err := os.ReadFile(c.Path(t.CAFile))
		if err != nil {
			return nil, fmt.Errorf("api: reading ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("api: ca_file %s holds no PEM certificate", t.CAFile)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

var (
	requestsTotal = metrics.Counter("api", "requests", "HTTP requests served by the API, by route and status class.", "route", "status")
	requestSecs   = metrics.Histogram("api", "request", "Latency of API requests, by route.", nil, "route")
)

// observe counts every request by matched route (not raw path: no unbounded labels) and status.
func observe(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	status := c.Response().StatusCode()
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status = fe.Code
	} else if err != nil {
		status = fiber.StatusInternalServerError
	}
	route := c.Route().Path
	if (route == "/" || c.Route().Method == "USE") && (status == fiber.StatusNotFound || status == fiber.StatusMethodNotAllowed) {
		route = "unmatched" // no route matched: the raw path would make unbounded labels
	}
	requestsTotal.WithLabelValues(route, fmt.Sprintf("%dxx", status/100)).Inc()
	requestSecs.WithLabelValues(route).Observe(time.Since(start).Seconds())
	return err
}

// JSONError writes the standard error body; routes of other packages use it too.
func JSONError(c *fiber.Ctx, status int, format string, args ...any) error {
	return c.Status(status).JSON(ErrorBody{Error: fmt.Sprintf(format, args...), Status: status})
}

func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		msg := fe.Message
		switch fe.Code {
		case fiber.StatusNotFound:
			msg = fmt.Sprintf("no route %s %s", c.Method(), c.Path())
		case fiber.StatusMethodNotAllowed:
			msg = fmt.Sprintf("method %s not allowed on %s", c.Method(), c.Path())
		}
		return JSONError(c, fe.Code, "%s", msg)
	}
	s.deps.Logger.Error("api: request failed", "method", c.Method(), "path", c.Path(), "err", err)
	return JSONError(c, fiber.StatusInternalServerError, "internal error")
}

func (s *Server) auth(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="amoskys"`)
		return JSONError(c, fiber.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <token> (token from the env var in api.token_env or data_dir/api-token)")
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if subtle.ConstantTimeCompare(sum[:], s.tok[:]) != 1 {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="amoskys", error="invalid_token"`)
		return JSONError(c, fiber.StatusUnauthorized, "invalid bearer token")
	}
	return c.Next()
}

// HealthBody is the JSON of /healthz.
type HealthBody struct {
	Status    string           `json:"status"` // ok | degraded
	Role      string           `json:"role"`
	Warehouse *WarehouseHealth `json:"warehouse,omitempty"`
	Pipelines []PipelineStatus `json:"pipelines"`
}

// WarehouseHealth is the warehouse part of /healthz.
type WarehouseHealth struct {
	Backend string `json:"backend"`
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
}

func (s *Server) healthz(c *fiber.Ctx) error {
	body := HealthBody{Status: "ok", Role: s.deps.Config.Role, Pipelines: []PipelineStatus{}}
	if w := s.deps.Warehouse; w != nil {
		ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
		defer cancel()
		wh := &WarehouseHealth{Backend: w.Backend(), OK: true}
		if _, err := w.Query(ctx, "SELECT 1", "TabSeparated"); err != nil {
			wh.OK, wh.Error = false, err.Error()
			body.Status = "degraded"
		}
		body.Warehouse = wh
	}
	if s.deps.Pipelines != nil {
		body.Pipelines = s.deps.Pipelines()
		for _, p := range body.Pipelines {
			if p.State == "failed" {
				body.Status = "degraded"
			}
		}
	}
	code := fiber.StatusOK
	if body.Status != "ok" {
		code = fiber.StatusServiceUnavailable
	}
	return c.Status(code).JSON(body)
}
