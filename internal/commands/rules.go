package commands

import (
	"fmt"
	"os"
	"sort"

	ucli "github.com/urfave/cli/v2"

	"github.com/amoskys/amoskys/internal/cli"
	"github.com/amoskys/amoskys/processors/geometric"
)

const rulesUsage = "check and test geometric (Sigma) rules"

func init() {
	cli.RegisterSub("rules", rulesUsage, &ucli.Command{
		Name:      "lint",
		Usage:     "load Sigma rules and report how many load and exactly why each one that does not",
		ArgsUsage: "DIR|FILE...",
		Flags:     []ucli.Flag{&ucli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "list the files behind each warning"}},
		Action: func(c *ucli.Context) error {
			if c.NArg() == 0 {
				return ucli.Exit("rules lint: give at least one rule directory or file", 2)
			}
			res, err := geometric.Lint(c.Args().Slice()...)
			if err != nil {
				return ucli.Exit("rules lint: "+err.Error(), 2)
			}
			res.Write(os.Stdout, c.Bool("verbose"))
			if len(res.Report.Errors) > 0 {
				return ucli.Exit("", 1)
			}
			return nil
		},
	})
	cli.RegisterSub("rules", rulesUsage, &ucli.Command{
		Name:      "test",
		Usage:     "run the rule fixtures (DIR/tests/*.yaml: events in, expected rule ids out), like promtool test rules",
		ArgsUsage: "[DIR]",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "fixtures", Usage: "fixture directory (default DIR/tests)"},
			&ucli.StringSliceFlag{Name: "sigma", Usage: "also load these Sigma rule trees (their matches must then be expected too)"},
		},
		Action: func(c *ucli.Context) error {
			dir := c.Args().First()
			if dir == "" {
				dir = geometric.DefaultRulesDir()
			}
			rep, err := geometric.RunFixtures(dir, c.String("fixtures"), c.StringSlice("sigma")...)
			if err != nil {
				return ucli.Exit("rules test: "+err.Error(), 2)
			}
			rep.Write(os.Stdout)
			if rep.Failures() > 0 {
				return ucli.Exit("", 1)
			}
			return nil
		},
	})
	cli.RegisterSub("rules", rulesUsage, &ucli.Command{
		Name:  "fields",
		Usage: "list the fields rules can read and where each comes from in the telemetry schema",
		Action: func(c *ucli.Context) error {
			names := append([]string(nil), geometric.FieldNames...)
			sort.Strings(names)
			for _, n := range names {
				fmt.Printf("%-22s %s\n", n, geometric.FieldDocs[n])
			}
			return nil
		},
	})
}
