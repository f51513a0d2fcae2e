// Package runner is `amoskys run`: from a validated config.yaml it exports the AMOSKYS_* env vars
// pipelines read, opens the warehouse and migrates it, starts every listed pipeline as a Benthos
// stream (our logger, the amoskys_prometheus exporter, Benthos' own HTTP server off unless
// benthos_http.enabled) and the HTTP API; on cancellation it stops the streams gracefully (inputs
// stop, in-flight messages are flushed and acknowledged), then the API, then closes the warehouse.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/clickhouse"
	"github.com/amoskys/amoskys/internal/api"
	"github.com/amoskys/amoskys/internal/config"
	"github.com/amoskys/amoskys/internal/metrics"
	"github.com/amoskys/amoskys/plugins/warehouse"
)

// Pipeline states reported on /healthz.
const (
	StateStarting = "starting"
	StateRunning  = "running"
	StateStopping = "stopping"
	StateStopped  = "stopped"  // stopped by shutdown
	StateFinished = "finished" // its input ended by itself
	StateFailed   = "failed"
)

// Options tune Run.
type Options struct {
	Logger *slog.Logger
	// Migrations is the DDL applied at start; nil means the embedded clickhouse/migrations.
	Migrations fs.FS
	// StopTimeout bounds the graceful stop of every stream (default 30s).
	StopTimeout time.Duration
	// OnReady is called once everything started, with the API address (nil when the API is off).
	OnReady func(apiAddr net.Addr)
}

type pipeline struct {
	name   string
	stream *service.Stream
	mu     sync.Mutex
	state  string
	err    error
}

func (p *pipeline) set(state string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state, p.err = state, err
}

func (p *pipeline) status() api.PipelineStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := api.PipelineStatus{Name: p.name, State: p.state}
	if p.err != nil {
		s.Error = p.err.Error()
	}
	return s
}

// ExportEnv sets the AMOSKYS_* variables that pipeline YAML reads with ${AMOSKYS_...:default}.
// Empty values leave the environment as it is (host_id empty: the OS hostname).
func ExportEnv(c *config.Config) error {
	for k, v := range c.Env() {
		if v == "" {
			continue
		}
		if err := os.Setenv(k, v); err != nil {
			return fmt.Errorf("exporting %s: %w", k, err)
		}
	}
	return nil
}

// NewLogger returns the process logger configured by log.level and log.format, on stderr.
func NewLogger(c *config.Config) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Log.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// OpenWarehouse opens and migrates the configured warehouse.
func OpenWarehouse(ctx context.Context, c *config.Config, migrations fs.FS) (warehouse.Warehouse, error) {
	if c.Warehouse.LibCHDB != "" {
		warehouse.SetLibraryPath(c.Path(c.Warehouse.LibCHDB))
	}
	w, err := warehouse.Open(ctx, c.WarehouseDSN())
	if err != nil {
		return nil, err
	}
	if migrations == nil {
		migrations = clickhouse.Migrations()
	}
	if err := warehouse.Migrate(ctx, w, migrations, warehouse.WithRetentionDays(RetentionDays(c))); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("migrating the warehouse: %w", err)
	}
	return w, nil
}

// RetentionDays rounds warehouse.retention up to whole days (the TTL unit of the DDL).
func RetentionDays(c *config.Config) int {
	d := c.Warehouse.Retention.D()
	days := int((d + 24*time.Hour - 1) / (24 * time.Hour))
	return max(days, 1)
}

// Run runs everything config c describes until ctx is cancelled or every pipeline has finished
// with no API to serve. A clean shutdown returns nil.
func Run(ctx context.Context, c *config.Config, opts Options) error {
	log := opts.Logger
	if log == nil {
		log = NewLogger(c)
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 30 * time.Second
	}
	if err := ExportEnv(c); err != nil {
		return err
	}
	if err := os.MkdirAll(c.Path(c.DataDir), 0o750); err != nil {
		return fmt.Errorf("creating data_dir: %w", err)
	}

	// An agent only collects and publishes to the bus: it never opens the warehouse (nor chDB).
	var w warehouse.Warehouse
	if c.Role != config.RoleAgent {
		var err error
		if w, err = OpenWarehouse(ctx, c, opts.Migrations); err != nil {
			return err
		}
		defer func() {
			if err := w.Close(); err != nil {
				log.Error("closing the warehouse", "err", err)
			}
		}()
		log.Info("warehouse ready", "backend", w.Backend(), "retention_days", RetentionDays(c))
	}

	// Benthos' own HTTP endpoints: a shared mux, each stream under /<pipeline>/.
	benthosMux := http.NewServeMux()
	var pipes []*pipeline
	if c.Role != config.RoleAPI {
		for _, p := range c.Pipelines {
			s, err := buildStream(c, p, log, benthosMux)
			if err != nil {
				return fmt.Errorf("pipeline %q (%s): %w", p.Name, p.File, err)
			}
			pipes = append(pipes, &pipeline{name: p.Name, stream: s, state: StateStarting})
		}
	}

	var benthosSrv *http.Server
	if c.BenthosHTTP.Enabled {
		ln, err := net.Listen("tcp", c.BenthosHTTP.Listen)
		if err != nil {
			return fmt.Errorf("benthos_http: %w", err)
		}
		benthosSrv = &http.Server{Handler: benthosMux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = benthosSrv.Serve(ln) }()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = benthosSrv.Shutdown(sctx)
		}()
	}

	// Streams run on their own context: cancelling it would skip the graceful drain.
	streamCtx, cancelStreams := context.WithCancel(context.Background())
	defer cancelStreams()
	var wg sync.WaitGroup
	ended := make(chan struct{}, len(pipes))
	for _, p := range pipes {
		wg.Add(1)
		p.set(StateRunning, nil)
		go func() {
			defer wg.Done()
			err := p.stream.Run(streamCtx)
			switch {
			case p.status().State == StateStopping:
				p.set(StateStopped, nil)
			case err != nil && !errors.Is(err, context.Canceled):
				log.Error("pipeline failed", "pipeline", p.name, "err", err)
				p.set(StateFailed, err)
			default:
				log.Info("pipeline finished: its input ended", "pipeline", p.name)
				p.set(StateFinished, nil)
			}
			ended <- struct{}{}
		}()
		log.Info("pipeline started", "pipeline", p.name)
	}

	var srv *api.Server
	var apiAddr net.Addr
	apiErr := make(chan error, 1)
	if c.API.Enabled {
		tok, err := api.ResolveToken(c, nil, log)
		if err != nil {
			stopAll(pipes, opts.StopTimeout, log)
			return err
		}
		srv, err = api.New(api.Deps{
			Config:    c,
			Warehouse: w,
			Logger:    log,
			BusDSN:    c.BusDSN(),
			Pipelines: func() []api.PipelineStatus {
				out := make([]api.PipelineStatus, len(pipes))
				for i, p := range pipes {
					out[i] = p.status()
				}
				return out
			},
		}, tok)
		if err != nil {
			stopAll(pipes, opts.StopTimeout, log)
			return err
		}
		ln, err := srv.Listen()
		if err != nil {
			stopAll(pipes, opts.StopTimeout, log)
			return err
		}
		apiAddr = ln.Addr()
		go func() { apiErr <- srv.Serve(ln) }()
		log.Info("API listening", "addr", apiAddr.String(), "tls", c.API.TLS.CertFile != "")
	}
	if opts.OnReady != nil {
		opts.OnReady(apiAddr)
	}

	// Wait for a signal, an API failure, or (without an API) every pipeline ending.
	remaining := len(pipes)
	var runErr error
wait:
	for {
		var endedC <-chan struct{} = ended
		if remaining == 0 {
			endedC = nil
			if srv == nil {
				break wait
			}
		}
		select {
		case <-ctx.Done():
			log.Info("shutting down", "cause", context.Cause(ctx))
			break wait
		case err := <-apiErr:
			if err != nil {
				runErr = fmt.Errorf("api: %w", err)
			}
			srv = nil
			break wait
		case <-endedC:
			remaining--
		}
	}

	stopAll(pipes, opts.StopTimeout, log)
	wg.Wait()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("API shutdown", "err", err)
		}
		cancel()
	}
	for _, p := range pipes {
		if st := p.status(); st.State == StateFailed && runErr == nil {
			runErr = fmt.Errorf("pipeline %q failed: %s", st.Name, st.Error)
		}
	}
	if runErr == nil {
		log.Info("stopped cleanly")
	}
	return runErr
}

// stopAll stops every running stream in parallel: inputs stop, in-flight messages are flushed.
func stopAll(pipes []*pipeline, timeout time.Duration, log *slog.Logger) {
	var wg sync.WaitGroup
	for _, p := range pipes {
		if st := p.status().State; st != StateRunning {
			continue
		}
		p.set(StateStopping, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.stream.StopWithin(timeout); err != nil {
				log.Warn("pipeline did not stop cleanly", "pipeline", p.name, "err", err)
			}
		}()
	}
	wg.Wait()
}

// buildStream makes the Benthos stream of one pipeline file.
func buildStream(c *config.Config, p config.Pipeline, log *slog.Logger, mux *http.ServeMux) (*service.Stream, error) {
	data, err := os.ReadFile(c.Path(p.File))
	if err != nil {
		return nil, err
	}
	sb := service.NewStreamBuilder()
	if err := sb.SetYAML(string(data)); err != nil {
		return nil, err
	}
	mconf := "none: {}"
	if c.Metrics.Enabled {
		mconf = metrics.ExporterYAML(p.Name)
	}
	if err := sb.SetMetricsYAML(mconf); err != nil {
		return nil, err
	}
	sb.SetLogger(log.With("pipeline", p.Name))
	sb.SetHTTPMux(&prefixMux{prefix: "/" + p.Name, mux: mux})
	return sb.Build()
}

// prefixMux mounts a stream's HTTP endpoints under /<pipeline>; a path registered twice is
// ignored rather than a panic of http.ServeMux.
type prefixMux struct {
	prefix string
	mux    *http.ServeMux
	mu     sync.Mutex
	seen   []string
}

func (m *prefixMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	full := m.prefix + pattern
	if slices.Contains(m.seen, full) {
		return
	}
	m.seen = append(m.seen, full)
	defer func() { _ = recover() }() // a pattern http.ServeMux refuses is not worth a crash
	m.mux.HandleFunc(full, h)
}
