package commands

import (
	"errors"
	"fmt"
	"os"

	ucli "github.com/urfave/cli/v2"

	"github.com/amoskys/amoskys/internal/cli"
	"github.com/amoskys/amoskys/internal/iforest"
)

func init() {
	cli.RegisterSub("bench", "benchmarks", &ucli.Command{
		Name:      "iforest",
		Usage:     "fit and score the Isolation Forest on labelled CSVs (x0..x{d-1},label): ROC AUC, fit time, rows/s, latency",
		ArgsUsage: "[FILE.csv ...]",
		Flags: []ucli.Flag{
			&ucli.StringSliceFlag{Name: "csv", Usage: "labelled CSV file (repeatable; positional arguments too)"},
			&ucli.IntFlag{Name: "seeds", Value: 5, Usage: "seeds 0..N-1; the AUC is their mean"},
			&ucli.IntFlag{Name: "trees", Value: 100, Usage: "trees per forest"},
			&ucli.IntFlag{Name: "samples", Value: 256, Usage: "subsample size ψ per tree"},
			&ucli.Float64Flag{Name: "max-features", Value: 1, Usage: "share of features each tree may split on"},
			&ucli.BoolFlag{Name: "json", Usage: "one JSON object per file instead of a table"},
		},
		Action: func(c *ucli.Context) error {
			files := append(c.StringSlice("csv"), c.Args().Slice()...)
			if len(files) == 0 {
				return errors.New("bench iforest: give at least one --csv FILE")
			}
			p := iforest.DefaultParams()
			p.Trees, p.SampleSize, p.MaxFeatures = c.Int("trees"), c.Int("samples"), c.Float64("max-features")
			if c.Int("seeds") < 1 {
				return errors.New("bench iforest: --seeds must be at least 1")
			}
			var rs []iforest.BenchResult
			for _, f := range files {
				d, err := iforest.ReadLabelledCSV(f)
				if err != nil {
					return fmt.Errorf("bench iforest: %w", err)
				}
				r, err := iforest.Bench(f, d, c.Int("seeds"), p)
				if err != nil {
					return fmt.Errorf("bench iforest %s: %w", f, err)
				}
				if c.Bool("json") {
					if err := iforest.WriteBenchJSON(os.Stdout, []iforest.BenchResult{r}); err != nil {
						return err
					}
				}
				rs = append(rs, r)
			}
			if !c.Bool("json") {
				iforest.WriteBenchTable(os.Stdout, rs)
			}
			return nil
		},
	})
}
