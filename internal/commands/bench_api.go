package commands

import (
	"fmt"
	"os"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/amoskys/amoskys/internal/api"
	"github.com/amoskys/amoskys/internal/cli"
)

func init() {
	cli.RegisterSub("bench", "benchmarks", &ucli.Command{
		Name:  "api",
		Usage: "store N alerts in the warehouse, start the API on loopback and load /api/alerts/recent with wrk",
		Flags: []ucli.Flag{
			&ucli.IntFlag{Name: "alerts", Usage: "alerts stored before the load", Value: 1000000},
			&ucli.StringFlag{Name: "dsn", Usage: "warehouse DSN (empty: a fresh embedded chDB in a temporary directory)"},
			&ucli.DurationFlag{Name: "duration", Usage: "length of each wrk run", Value: 10 * time.Second},
			&ucli.IntFlag{Name: "threads", Usage: "wrk threads (1 leaves the other core of a 2-core machine to the server)", Value: 1},
			&ucli.IntFlag{Name: "connections", Usage: "wrk connections", Value: 8},
		},
		Action: func(c *ucli.Context) error {
			runs, err := api.BenchAPI(c.Context, api.BenchAPIOptions{Alerts: c.Int("alerts"), DSN: c.String("dsn"),
				Duration: c.Duration("duration"), Threads: c.Int("threads"), Connections: c.Int("connections")}, os.Stdout)
			if err != nil {
				return ucli.Exit("amoskys bench api: "+err.Error(), 1)
			}
			for _, r := range runs {
				fmt.Printf("%s\n  %s\n", r.Name, r.Command)
			}
			return nil
		},
	})
}
