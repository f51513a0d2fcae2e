package commands

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/amoskys/amoskys/internal/api"
	"github.com/amoskys/amoskys/internal/cli"
)

func init() {
	cli.Register(&ucli.Command{
		Name:      "sql",
		Usage:     "run ClickHouse SQL against the configured warehouse (through the running instance's /api/sql when one holds it)",
		ArgsUsage: `"QUERY" | -f FILE.sql`,
		Description: "When an `amoskys run` answers on api.listen, the query goes to its /api/sql (read-only, token from\n" +
			"the env var named by api.token_env or data_dir/api-token). Otherwise the warehouse is opened directly.",
		Flags: []ucli.Flag{
			configFlag(),
			&ucli.StringFlag{Name: "format", Value: api.FormatTable, Usage: "output format: table, tsv or json"},
			&ucli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "read the query from this .sql file"},
		},
		Action: func(c *ucli.Context) error {
			format := c.String("format")
			if !slices.Contains(api.Formats, format) {
				return ucli.Exit(fmt.Sprintf("amoskys sql: --format %q: want table, tsv or json", format), ExitInvalid)
			}
			query := strings.Join(c.Args().Slice(), " ")
			if f := c.String("file"); f != "" {
				if query != "" {
					return ucli.Exit("amoskys sql: give a query or -f FILE, not both", ExitInvalid)
				}
				b, err := os.ReadFile(f)
				if err != nil {
					return ucli.Exit("amoskys sql: "+err.Error(), ExitInvalid)
				}
				query = string(b)
			}
			if api.CleanQuery(query) == "" {
				return ucli.Exit(`amoskys sql: no query: amoskys sql "SELECT ..." or amoskys sql -f FILE.sql`, ExitInvalid)
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			res, via, err := api.Query(c.Context, cfg, query, format)
			if err != nil {
				var qe *api.QueryError
				var ae *api.APIError
				switch {
				case errors.As(err, &qe), errors.As(err, &ae):
					return ucli.Exit(fmt.Sprintf("amoskys sql (%s): %v", via, err), 1)
				}
				return ucli.Exit("amoskys sql: "+err.Error(), 1)
			}
			if _, err := c.App.Writer.Write(res.Body); err != nil {
				return ucli.Exit("amoskys sql: "+err.Error(), 1)
			}
			if res.Truncated {
				fmt.Fprintln(c.App.ErrWriter, "amoskys sql: result truncated by api.sql_max_rows / api.sql_max_bytes")
			}
			return nil
		},
	})
}
