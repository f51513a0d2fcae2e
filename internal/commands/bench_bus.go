package commands

import (
	"fmt"
	"os"
	"path/filepath"

	ucli "github.com/urfave/cli/v2"

	"github.com/amoskys/amoskys/internal/cli"
	"github.com/amoskys/amoskys/internal/pgtest"
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
}
