package commands

import (
	"os"
	"os/signal"
	"syscall"

	ucli "github.com/urfave/cli/v2"

	"github.com/amoskys/amoskys/internal/cli"
	"github.com/amoskys/amoskys/internal/runner"
)

// run replaces Benthos' own `run`: it takes config.yaml (not a Benthos stream config) and starts
// every pipeline it lists as a Benthos stream, the warehouse and the HTTP API. Benthos' `streams`,
// `lint`, `test`, `list` and `blobl` stay as they are.
func init() {
	cli.Register(&ucli.Command{
		Name:  "run",
		Usage: "run AMOSKYS: every pipeline listed in config.yaml, the warehouse and the HTTP API",
		Description: "Validates config.yaml (exit 2 with every problem when invalid), exports AMOSKYS_WAREHOUSE_DSN,\n" +
			"AMOSKYS_BUS_DSN, AMOSKYS_DATA_DIR, AMOSKYS_HOST_ID, AMOSKYS_MODELS_DIR and AMOSKYS_RULES_DIR for the\n" +
			"pipelines, opens and migrates the warehouse, starts each pipeline as a Benthos stream and serves\n" +
			"/healthz, /metrics and /api on api.listen (127.0.0.1:8080). SIGINT or SIGTERM stop it cleanly:\n" +
			"inputs stop, in-flight messages are flushed and acknowledged, the warehouse is closed.",
		Flags: []ucli.Flag{configFlag()},
		Action: func(c *ucli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			// After the first signal, a second one kills the process the default way (no wait for the drain).
			go func() { <-ctx.Done(); stop() }()
			if err := runner.Run(ctx, cfg, runner.Options{}); err != nil {
				return ucli.Exit("amoskys run: "+err.Error(), 1)
			}
			return nil
		},
	})
}
