package commands

import (
	"errors"
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/amoskys/amoskys/clickhouse"
	"github.com/amoskys/amoskys/internal/cli"
	"github.com/amoskys/amoskys/internal/runner"
	"github.com/amoskys/amoskys/plugins/warehouse"
)

func init() {
	cli.Register(&ucli.Command{
		Name:  "migrate",
		Usage: "apply clickhouse/migrations/*.sql to the configured warehouse, in order, each once",
		Flags: []ucli.Flag{configFlag()},
		Action: func(c *ucli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			if cfg.Warehouse.LibCHDB != "" {
				warehouse.SetLibraryPath(cfg.Path(cfg.Warehouse.LibCHDB))
			}
			w, err := warehouse.Open(c.Context, cfg.WarehouseDSN())
			if errors.Is(err, warehouse.ErrLocked) {
				return ucli.Exit("amoskys migrate: "+err.Error()+"; a running `amoskys run` holds it and has already migrated it at start", 1)
			}
			if err != nil {
				return ucli.Exit("amoskys migrate: "+err.Error(), 1)
			}
			defer w.Close()
			applied, err := warehouse.Apply(c.Context, w, clickhouse.Migrations(), warehouse.WithRetentionDays(runner.RetentionDays(cfg)))
			if err != nil {
				return ucli.Exit("amoskys migrate: "+err.Error(), 1)
			}
			if len(applied) == 0 {
				fmt.Fprintln(c.App.Writer, "warehouse is up to date")
			}
			for _, name := range applied {
				fmt.Fprintln(c.App.Writer, "applied", name)
			}
			return nil
		},
	})
}
