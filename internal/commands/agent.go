package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redpanda-data/benthos/v4/public/service"
	ucli "github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/amoskys/amoskys/internal/cli"
	"github.com/amoskys/amoskys/internal/metrics"
	"github.com/amoskys/amoskys/plugins/collect/footprint"
)

// parseByteSize reads a size as GOMEMLIMIT writes it: an integer with an optional B, KiB, MiB, GiB
// or TiB suffix.
func parseByteSize(s string) (int64, error) {
	num, mul := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if v, ok := strings.CutSuffix(num, u.suf); ok {
			num, mul = v, u.m
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mul {
		return 0, fmt.Errorf("%q: want a positive size such as 64MiB", s)
	}
	return n * mul, nil
}

// agentConfig is agent.yaml: what `amoskys agent` needs and nothing of the warehouse.
type agentConfig struct {
	HostID string `yaml:"host_id"`
	Bus    struct {
		DSN        string `yaml:"dsn"`
		Partitions int    `yaml:"partitions"`
	} `yaml:"bus"`
	Pipeline string `yaml:"pipeline"`
	Listen   string `yaml:"listen"`
	Log      struct {
		Level string `yaml:"level"`
	} `yaml:"log"`
	Memory struct {
		// TrimText: once the stream runs (and again footprint.Settle later), map the binary's
		// text and rodata page by page and drop what start-up touched (plugins/collect/footprint).
		TrimText bool `yaml:"trim_text"`
		// Limit: the Go runtime's soft memory limit (debug.SetMemoryLimit), e.g. "64MiB"; empty:
		// none, or GOMEMLIMIT from the environment, which wins over the file.
		Limit string `yaml:"limit"`
	} `yaml:"memory"`
}

func init() {
	cli.Register(&ucli.Command{
		Name:  "agent",
		Usage: "run the collectors of this host and publish their telemetry to the bus (no warehouse)",
		Description: "Reads agent.yaml, sets AMOSKYS_HOST_ID, AMOSKYS_BUS_DSN and AMOSKYS_BUS_PARTITIONS (the\n" +
			"environment wins over the file) and runs the pipeline it names (pipelines/agent.yaml:\n" +
			"collectors -> normalise -> bus). It never opens the warehouse or chDB. /healthz and /metrics\n" +
			"are served on `listen`. SIGINT or SIGTERM stop it after in-flight batches reach the bus.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "config", Aliases: []string{"c"}, Value: "agent.yaml", Usage: "agent config file"},
			&ucli.StringFlag{Name: "host-id", Usage: "host identity (overrides host_id and AMOSKYS_HOST_ID)"},
			&ucli.StringFlag{Name: "bus", Usage: "bus DSN (overrides bus.dsn and AMOSKYS_BUS_DSN)"},
			&ucli.StringFlag{Name: "listen", Usage: "address of /healthz and /metrics (overrides listen)"},
		},
		Action: func(c *ucli.Context) error {
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := runAgent(ctx, c); err != nil {
				return ucli.Exit("amoskys agent: "+err.Error(), 1)
			}
			return nil
		},
	})
}

func loadAgentConfig(path string) (*agentConfig, error) {
	cfg := &agentConfig{}
	cfg.Bus.DSN = "sqlite://./data/bus.db"
	cfg.Bus.Partitions = 1
	cfg.Pipeline = "pipelines/agent.yaml"
	cfg.Listen = "127.0.0.1:9101"
	cfg.Log.Level = "info"
	cfg.Memory.TrimText = true
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if cfg.Bus.Partitions < 1 {
		return nil, fmt.Errorf("%s: bus.partitions must be at least 1", path)
	}
	if cfg.Memory.Limit != "" {
		if _, err := parseByteSize(cfg.Memory.Limit); err != nil {
			return nil, fmt.Errorf("%s: memory.limit: %w", path, err)
		}
	}
	if !filepath.IsAbs(cfg.Pipeline) {
		cfg.Pipeline = filepath.Join(filepath.Dir(path), cfg.Pipeline)
	}
	// A sqlite bus path is relative to the config file too, so every process finds the same file.
	if rest, ok := strings.CutPrefix(cfg.Bus.DSN, "sqlite://"); ok && !filepath.IsAbs(rest) {
		cfg.Bus.DSN = "sqlite://" + filepath.Join(filepath.Dir(path), rest)
	}
	return cfg, nil
}

func runAgent(ctx context.Context, c *ucli.Context) error {
	cfg, err := loadAgentConfig(c.String("config"))
	if err != nil {
		return err
	}
	// Precedence: flag, then environment, then file.
	pick := func(flag, env, file string) string {
		if v := c.String(flag); v != "" {
			return v
		}
		if v := os.Getenv(env); v != "" {
			return v
		}
		return file
	}
	hostID := pick("host-id", "AMOSKYS_HOST_ID", cfg.HostID)
	if hostID == "" {
		if hostID, err = os.Hostname(); err != nil {
			return err
		}
	}
	dsn := pick("bus", "AMOSKYS_BUS_DSN", cfg.Bus.DSN)
	parts := pick("", "AMOSKYS_BUS_PARTITIONS", strconv.Itoa(cfg.Bus.Partitions))
	listen := cfg.Listen
	if c.IsSet("listen") {
		listen = c.String("listen")
	}
	for k, v := range map[string]string{"AMOSKYS_HOST_ID": hostID, "AMOSKYS_BUS_DSN": dsn, "AMOSKYS_BUS_PARTITIONS": parts} {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cfg.Log.Level)); err != nil {
		return fmt.Errorf("log.level %q: want debug, info, warn or error", cfg.Log.Level)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})).With("role", "agent", "host", hostID)

	if lim := cfg.Memory.Limit; lim != "" && os.Getenv("GOMEMLIMIT") == "" {
		n, _ := parseByteSize(lim) // checked by loadAgentConfig
		debug.SetMemoryLimit(n)
	}

	data, err := os.ReadFile(cfg.Pipeline)
	if err != nil {
		return err
	}
	sb := service.NewStreamBuilder()
	if err := sb.SetYAML(string(data)); err != nil {
		return fmt.Errorf("%s: %w", cfg.Pipeline, err)
	}
	if err := sb.SetMetricsYAML(metrics.ExporterYAML("agent")); err != nil {
		return err
	}
	sb.SetLogger(log.With("pipeline", "agent"))
	stream, err := sb.Build()
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Pipeline, err)
	}

	if listen != "" {
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
		mux.Handle("/metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		log.Info("agent listening", "addr", ln.Addr().String())
	}

	log.Info("agent started", "pipeline", cfg.Pipeline, "partitions", parts)
	done := make(chan error, 1)
	go func() { done <- stream.Run(context.Background()) }()
	if cfg.Memory.TrimText {
		footprint.TrimNowAndAfter(ctx, footprint.Settle, func(r footprint.TrimResult, err error) {
			if errors.Is(err, footprint.ErrUnsupported) {
				log.Debug("memory.trim_text: not on this system")
				return
			}
			if err != nil {
				log.Warn("memory.trim_text", "err", err)
				return
			}
			log.Debug("memory.trim_text", "segments", r.Mappings, "resident_before_bytes", r.Before)
		})
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	log.Info("agent stopping")
	if err := stream.StopWithin(30 * time.Second); err != nil {
		log.Warn("agent did not stop cleanly", "err", err)
	}
	<-done
	log.Info("agent stopped cleanly")
	return nil
}
