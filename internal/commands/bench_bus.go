package commands

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	ucli "github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/amoskys/amoskys/internal/cli"
	"github.com/amoskys/amoskys/internal/pgtest"
	"github.com/amoskys/amoskys/internal/replay"
	"github.com/amoskys/amoskys/plugins/bus/busbench"
)

func init() {
	cli.RegisterSub("bench", "benchmarks", &ucli.Command{
		Name:  "bus",
		Usage: "bus throughput per backend (gochannel, sqlite, postgres): events published and consumed end to end",
		Flags: []ucli.Flag{
			&ucli.IntFlag{Name: "events", Value: 200000, Usage: "events per backend"},
			&ucli.IntFlag{Name: "batch", Value: 1000, Usage: "events per bus message (the bus output's batch)"},
			&ucli.StringFlag{Name: "postgres", Usage: "PostgreSQL DSN; empty: start a throwaway cluster (internal/pgtest)"},
		},
		Action: func(c *ucli.Context) error {
			dir, err := os.MkdirTemp("", "amoskys-bench-bus-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			dsns := []string{"gochannel://bench", "sqlite://" + filepath.Join(dir, "bus.db")}
			pg := c.String("postgres")
			if pg == "" {
				cl, err := pgtest.Start(pgtest.Options{})
				if err != nil {
					fmt.Fprintf(os.Stderr, "postgres skipped: %v\n", err)
				} else {
					defer cl.Stop()
					pg = cl.DSN
				}
			}
			if pg != "" {
				dsns = append(dsns, pg)
			}
			fmt.Printf("| backend | events | batch | publish events/s | end-to-end events/s | payload bytes |\n|---|---|---|---|---|---|\n")
			for _, dsn := range dsns {
				r, err := busbench.Run(c.Context, dsn, c.Int("events"), c.Int("batch"))
				if err != nil {
					return fmt.Errorf("%s: %w", dsn, err)
				}
				fmt.Printf("| %s | %d | %d | %.0f | %.0f | %d |\n", r.Backend, r.Events, r.Batch, r.PublishRate(), r.Rate(), r.BytesEach)
			}
			return nil
		},
	})
	cli.RegisterSub("bench", "benchmarks", &ucli.Command{
		Name:  "replay",
		Usage: "replay through the detect chain vs the same number of Benthos noop stages, in one run",
		Flags: []ucli.Flag{
			&ucli.IntFlag{Name: "events", Value: 1000000, Usage: "synthetic events"},
			&ucli.IntFlag{Name: "hosts", Value: 8, Usage: "hosts the events come from"},
			&ucli.IntFlag{Name: "batch", Value: 5000, Usage: "events per batch"},
			&ucli.StringFlag{Name: "pipeline", Value: "pipelines/detect.yaml", Usage: "pipeline to replay through"},
		},
		Action: func(c *ucli.Context) error {
			dir, err := os.MkdirTemp("", "amoskys-bench-replay-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			stages, err := countStages(c.String("pipeline"))
			if err != nil {
				return err
			}
			noop, err := replay.NoopPipeline(dir, stages)
			if err != nil {
				return err
			}
			evs := replay.Synthetic(c.Int("events"), c.Int("hosts"), time.Now().UTC().Add(-24*time.Hour).Truncate(time.Hour))
			fmt.Printf("| pipeline | stages | events | alerts | seconds | events/s |\n|---|---|---|---|---|---|\n")
			for _, p := range []string{noop, c.String("pipeline"), noop} {
				r, err := replay.Bench(c.Context, p, evs, c.Int("batch"))
				if err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				name := p
				if p == noop {
					name = fmt.Sprintf("%d x noop", stages)
				}
				fmt.Printf("| %s | %d | %d | %d | %.2f | %.0f |\n", name, stages, r.Events, r.Alerts, r.Elapsed.Seconds(), r.EventsPerSecond())
			}
			return nil
		},
	})
}

// countStages counts the processors of a pipeline file.
func countStages(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var conf struct {
		Pipeline struct {
			Processors []any `yaml:"processors"`
		} `yaml:"pipeline"`
	}
	if err := yaml.Unmarshal(b, &conf); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return len(conf.Pipeline.Processors), nil
}
