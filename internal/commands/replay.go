package commands

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/amoskys/amoskys/clickhouse"
	"github.com/amoskys/amoskys/internal/cli"
	"github.com/amoskys/amoskys/internal/replay"
	"github.com/amoskys/amoskys/plugins/warehouse"
)

func init() {
	cli.Register(&ucli.Command{
		Name:      "replay",
		Usage:     "run stored telemetry through a pipeline (possibly edited) and keep its alerts apart",
		ArgsUsage: "[RUN]",
		Description: "Reads telemetry in event-time order from the warehouse (or --jsonl files), runs it through\n" +
			"--pipeline with the pipeline's input and output replaced, writes the alerts tagged with the run\n" +
			"id to alerts_replay (never the live alerts table) and the run to replay_runs. With --diff it\n" +
			"prints the alerts added (+), removed (-) and re-scored (~) against the live alerts of the same\n" +
			"window, or against replay run RUN when given after --diff. Times are RFC 3339.\n\n" +
			"  amoskys replay --from 2026-11-20T00:00:00Z --to 2026-11-27T00:00:00Z --pipeline my-detect.yaml --diff\n" +
			"  amoskys replay --from ... --to ... --pipeline edited.yaml --diff replay-20261126T120000Z-ab12cd",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "from", Usage: "start of the event-time window (inclusive, RFC 3339)"},
			&ucli.StringFlag{Name: "to", Usage: "end of the event-time window (exclusive, RFC 3339)"},
			&ucli.StringFlag{Name: "hosts", Usage: "comma-separated hosts (default: all)"},
			&ucli.StringFlag{Name: "pipeline", Value: "pipelines/detect.yaml", Usage: "pipeline file to replay through"},
			&ucli.StringFlag{Name: "run-id", Usage: "id of this run (default: generated)"},
			&ucli.BoolFlag{Name: "diff", Usage: "print the differences against the live alerts, or against run RUN given as argument"},
			&ucli.StringSliceFlag{Name: "jsonl", Usage: "read TelemetryEvent JSON lines from these files instead of the warehouse"},
			&ucli.StringFlag{Name: "warehouse", EnvVars: []string{"AMOSKYS_WAREHOUSE_DSN"}, Value: "chdb://./data/warehouse", Usage: "warehouse DSN"},
			&ucli.BoolFlag{Name: "no-store", Usage: "with --jsonl: keep the run in memory, write nothing to the warehouse"},
			&ucli.BoolFlag{Name: "json-messages", Usage: "send events as JSON bytes (for pipelines starting with bloblang) instead of decoded values"},
			&ucli.IntFlag{Name: "batch", Value: 2000, Usage: "events per batch"},
			&ucli.IntFlag{Name: "workers", Value: 1, Usage: "copies of the pipeline run side by side, the hosts split between them (each stage keeps its state per host; caps such as window.max_keys then apply per copy)"},
			&ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
			&ucli.IntFlag{Name: "gc-percent", Value: replay.DefaultGCPercent, Usage: "Go GC percent during the run (a batch job: memory for speed; 0: the process's GOGC)"},
			&ucli.Int64Flag{Name: "memory-limit-mib", Value: replay.DefaultMemoryLimit >> 20, Usage: "soft memory limit with --gc-percent (MiB)"},
		},
		Action: func(c *ucli.Context) error {
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := runReplay(ctx, c); err != nil {
				return ucli.Exit("amoskys replay: "+err.Error(), 1)
			}
			return nil
		},
	})
}

func parseTimeFlag(c *ucli.Context, name string) (time.Time, error) {
	v := c.String(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s %q: want RFC 3339, e.g. 2026-11-20T00:00:00Z", name, v)
	}
	return t.UTC(), nil
}

func runReplay(ctx context.Context, c *ucli.Context) error {
	from, err := parseTimeFlag(c, "from")
	if err != nil {
		return err
	}
	to, err := parseTimeFlag(c, "to")
	if err != nil {
		return err
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return fmt.Errorf("--from must be before --to")
	}
	var hosts []string
	for _, h := range strings.Split(c.String("hosts"), ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	opts := replay.Options{From: from, To: to, Hosts: hosts, Pipeline: c.String("pipeline"),
		RunID: c.String("run-id"), BatchSize: c.Int("batch"), JSON: c.Bool("json-messages"),
		GCPercent: c.Int("gc-percent"), MemoryLimit: c.Int64("memory-limit-mib") << 20, Workers: c.Int("workers")}
	if !c.Bool("quiet") {
		opts.Progress = os.Stderr
	}
	if files := c.StringSlice("jsonl"); len(files) > 0 {
		if opts.Source, err = replay.JSONLSource(files, from, to, hosts); err != nil {
			return err
		}
	}
	baseline := c.Args().First()
	needWarehouse := opts.Source == nil || !c.Bool("no-store") || (c.Bool("diff"))
	if needWarehouse {
		w, err := warehouse.Open(ctx, c.String("warehouse"))
		if err != nil {
			return err
		}
		defer w.Close()
		if err := warehouse.Migrate(ctx, w, clickhouse.Migrations()); err != nil {
			return fmt.Errorf("migrating the warehouse: %w", err)
		}
		opts.Warehouse = w
	}
	res, err := replay.Run(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Printf("replay %s: %d events, %d alerts in %s (%.0f events/s)\n", res.RunID, res.Events,
		len(res.Alerts), res.Elapsed.Round(time.Millisecond), res.EventsPerSecond())
	if !c.Bool("diff") {
		return nil
	}
	var before map[replay.Key]replay.Summary
	name := "live"
	if baseline != "" {
		name = baseline
		before, err = replay.RunAlerts(ctx, opts.Warehouse, baseline)
	} else {
		before, err = replay.LiveAlerts(ctx, opts.Warehouse, from, to, hosts)
	}
	if err != nil {
		return err
	}
	replay.Compare(name, before, replay.Summaries(res.Alerts)).Print(os.Stdout, res.RunID)
	return nil
}
