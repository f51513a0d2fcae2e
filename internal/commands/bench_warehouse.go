package commands

import (
	"fmt"
	"os"

	ucli "github.com/urfave/cli/v2"

	"github.com/amoskys/amoskys/internal/cli"
	chplugin "github.com/amoskys/amoskys/plugins/clickhouse"
	"github.com/amoskys/amoskys/plugins/warehouse"
)

func init() {
	cli.RegisterSub("bench", "benchmarks", &ucli.Command{
		Name:  "warehouse",
		Usage: "measure telemetry ingest into chDB (each insert method and the clickhouse output, side by side) and a 1M-row aggregation",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "dsn", Usage: "warehouse DSN (empty: a fresh chdb directory in the temp dir)"},
			&ucli.StringFlag{Name: "libchdb", Usage: "path of libchdb.so (default: $AMOSKYS_LIBCHDB, then standard places)"},
			&ucli.IntFlag{Name: "rows", Usage: "rows per measured path", Value: 500_000},
			&ucli.IntFlag{Name: "batch", Usage: "rows per insert / output batch", Value: 10_000},
			&ucli.IntFlag{Name: "agg-rows", Usage: "rows the aggregation reads", Value: 1_000_000},
			&ucli.IntFlag{Name: "agg-runs", Usage: "aggregation repetitions (median reported)", Value: 5},
			&ucli.BoolFlag{Name: "skip-tsv", Usage: "skip the slow inline TabSeparated baseline"},
			&ucli.IntFlag{Name: "max-in-flight", Usage: "the clickhouse output's max_in_flight (batches written at once)", Value: 0},
			&ucli.BoolFlag{Name: "output-only", Usage: "measure only the clickhouse output paths (typed and generic row encoder)"},
		},
		Action: func(c *ucli.Context) error {
			if p := c.String("libchdb"); p != "" {
				warehouse.SetLibraryPath(p)
			}
			rep, err := chplugin.RunBench(c.Context, chplugin.BenchOptions{
				DSN: c.String("dsn"), Rows: c.Int("rows"), Batch: c.Int("batch"), AggRows: c.Int("agg-rows"),
				AggRuns: c.Int("agg-runs"), SkipSlow: c.Bool("skip-tsv"), BenthosIO: true, OutputOnly: c.Bool("output-only"), InFlight: c.Int("max-in-flight"),
				Log: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) },
			})
			if err != nil {
				return fmt.Errorf("bench warehouse: %w", err)
			}
			fmt.Print(rep.Format())
			return nil
		},
	})
}
