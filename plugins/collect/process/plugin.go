package process

import (
	"context"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/metrics"
	"github.com/amoskys/amoskys/plugins/collect/batchin"
	"github.com/amoskys/amoskys/schemas"
)

const (
	fieldInterval      = "interval"
	fieldSampleTopN    = "sample_top_n"
	fieldAncestryDepth = "ancestry_depth"
	fieldCmdlineMax    = "cmdline_max"
	fieldUseConnector  = "use_connector"
	fieldHost          = "host"
	fieldEmitInitial   = "emit_initial"
)

func spec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Local").
		Summary("Process telemetry: process_exec, process_exit and process_sample events, in real time from the kernel's process connector.").
		Description(`
On Linux as root the kernel process connector reports fork, exec and exit at once; /proc is read
on each exec (exe, deleted / world-writable flags, cmdline, cwd, uids/gids, CapEff, user, tty,
cgroup and container id, stdio sockets, socket count) with the ancestry chain to pid 1. Every
`+"`interval`"+` a gopsutil snapshot reconciles what the connector missed and emits
`+"`process_sample`"+` (CPU percent of one core since the last sample, RSS, threads, fds, I/O
bytes). Without the connector the snapshots alone drive the events. Messages hold
TelemetryEvents; run them through the `+"`normalise`"+` processor.`).
		Field(service.NewDurationField(fieldInterval).Description("Snapshot and sample period.").Default("5s").Example("10s")).
		Field(service.NewIntField(fieldSampleTopN).Description("Emit process_sample for the N processes using most CPU; 0 samples every process.").Default(0).Example(20)).
		Field(service.NewIntField(fieldAncestryDepth).Description("Ancestors recorded per process_exec (the chain stops at pid 1 earlier).").Default(16).Example(8)).
		Field(service.NewIntField(fieldCmdlineMax).Description("Bytes of command line kept; longer ones are cut and end with an ellipsis.").Default(4096).Example(1024)).
		Field(service.NewStringEnumField(fieldUseConnector, ConnectorAuto, ConnectorOn, ConnectorOff).
			Description("auto: use the process connector when it can be opened (root on Linux), else snapshots only; true: fail without it; false: snapshots only.").
			Default(ConnectorAuto).Example(ConnectorOff)).
		Field(service.NewStringField(fieldHost).Description("Host identity on events. Empty: AMOSKYS_HOST_ID, else the hostname.").Default("").Example("web-01")).
		Field(service.NewBoolField(fieldEmitInitial).Description("Emit process_exec (labelled seen_by=initial) for every process running at start.").Default(false).Advanced()).
		Example("Processes", "Real-time process events, top 20 samples every 5 s.", `
input:
  process:
    interval: 5s
    sample_top_n: 20
pipeline:
  processors:
    - normalise: {}
output:
  stdout: {}
`)
}

func init() {
	err := service.RegisterBatchInput("process", spec(), func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
		cfg, err := configFrom(conf)
		if err != nil {
			return nil, err
		}
		if _, err := NewCollector(cfg); err != nil {
			return nil, err // says so at start where /proc is missing (not Linux)
		}
		return batchin.New(mgr, Source, func(ctx context.Context) (<-chan []*schemas.TelemetryEvent, error) {
			c, err := NewCollector(cfg)
			if err != nil {
				return nil, err
			}
			if err := c.Start(ctx); err != nil {
				return nil, err
			}
			if on, why := c.UsingConnector(); !on && why != nil {
				mgr.Logger().Warnf("process: connector not used (%v): snapshots every %s only, short-lived processes may be missed", why, cfg.Interval)
			}
			go exportStats(ctx, c, cfg.Interval)
			return c.Events(), nil
		}), nil
	})
	if err != nil {
		panic(err)
	}
}

var (
	metricMissed   = metrics.Counter("collect", "process_missed", "Process starts and exits the connector did not report, found by a snapshot.", "what")
	metricLost     = metrics.Counter("collect", "process_lost", "Process events lost: connector overruns and events dropped while the consumer lagged.", "why")
	metricReadErrs = metrics.Counter("collect", "process_read_errors", "/proc reads that failed (the process had usually gone already).")
)

// exportStats adds the collector's counters to the Prometheus registry every interval.
func exportStats(ctx context.Context, c *Collector, every time.Duration) {
	var prev Stats
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := c.Stats()
		metricMissed.WithLabelValues("exec").Add(float64(s.MissedExecs - prev.MissedExecs))
		metricMissed.WithLabelValues("exit").Add(float64(s.MissedExits - prev.MissedExits))
		metricLost.WithLabelValues("overrun").Add(float64(s.Overruns - prev.Overruns))
		metricLost.WithLabelValues("dropped").Add(float64(s.Dropped - prev.Dropped))
		metricReadErrs.WithLabelValues().Add(float64(s.ReadErrors - prev.ReadErrors))
		prev = s
	}
}

func configFrom(conf *service.ParsedConfig) (Config, error) {
	var cfg Config
	var err error
	if cfg.Interval, err = conf.FieldDuration(fieldInterval); err != nil {
		return cfg, err
	}
	if cfg.SampleTopN, err = conf.FieldInt(fieldSampleTopN); err != nil {
		return cfg, err
	}
	if cfg.AncestryDepth, err = conf.FieldInt(fieldAncestryDepth); err != nil {
		return cfg, err
	}
	if cfg.CmdlineMax, err = conf.FieldInt(fieldCmdlineMax); err != nil {
		return cfg, err
	}
	if cfg.UseConnector, err = conf.FieldString(fieldUseConnector); err != nil {
		return cfg, err
	}
	if cfg.Host, err = conf.FieldString(fieldHost); err != nil {
		return cfg, err
	}
	if cfg.EmitInitial, err = conf.FieldBool(fieldEmitInitial); err != nil {
		return cfg, err
	}
	return cfg, cfg.defaults()
}
