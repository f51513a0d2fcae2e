package commands

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/amoskys/amoskys/internal/cli"
	"github.com/amoskys/amoskys/internal/config"
)

// ExitInvalid is the exit code of every command refusing an invalid config or usage.
const ExitInvalid = 2

func configFlag() ucli.Flag {
	return &ucli.StringFlag{Name: "config", Aliases: []string{"c"}, Value: "config.yaml", EnvVars: []string{"AMOSKYS_CONFIG"}, Usage: "path of config.yaml"}
}

// loadConfig loads -c strictly; on any problem it prints every FILE:LINE:COL message on stderr
// and returns an exit error with code 2.
func loadConfig(c *ucli.Context) (*config.Config, error) {
	cfg, err := config.Load(c.String("config"), config.Options{})
	if err != nil {
		fmt.Fprintln(c.App.ErrWriter, err)
		return nil, ucli.Exit("", ExitInvalid)
	}
	return cfg, nil
}

func init() {
	cli.RegisterSub("config", "check config.yaml", &ucli.Command{
		Name:  "validate",
		Usage: "decode config.yaml strictly and report every problem as FILE:LINE:COL: message (exit 0 valid, 2 invalid)",
		Description: "Unknown keys, wrong types, out-of-range ports, sizes and durations, clashing listen addresses,\n" +
			"missing files (TLS, models, pipelines), secrets written where an environment variable NAME belongs,\n" +
			"unknown DSN schemes and Benthos lint errors of every listed pipeline are all reported at once.",
		Flags: []ucli.Flag{configFlag()},
		Action: func(c *ucli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "%s: valid (role %s, %d pipelines, warehouse %s)\n",
				cfg.File, cfg.Role, len(cfg.Pipelines), cfg.Warehouse.DSN)
			return nil
		},
	})
}
