package commands

import (
	"fmt"
	"os"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/amoskys/amoskys/internal/cli"
	"github.com/amoskys/amoskys/internal/nab"
	"github.com/amoskys/amoskys/processors/temporal"
)

func init() {
	cli.RegisterSub("bench", "benchmarks", &ucli.Command{
		Name:  "nab",
		Usage: "run the temporal detector (and the windowed-Gaussian baseline) over a NAB corpus and score it",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "data", Usage: "NAB data directory: DIR/<family>/<file>.csv", Value: "../shared/data/nab/data"},
			&ucli.StringFlag{Name: "out", Usage: "results directory: OUT/<family>/<detector>_<file>.csv (empty: none)"},
			&ucli.StringFlag{Name: "labels", Usage: "NAB labels/combined_windows.json (empty: no scoring)"},
			&ucli.StringFlag{Name: "profiles", Usage: "NAB config/profiles.json (empty: NAB's three profiles)"},
			&ucli.BoolFlag{Name: "no-baseline", Usage: "skip the windowed-Gaussian baseline"},
			&ucli.StringSliceFlag{Name: "reference", Usage: "score published results beside ours: NAME=DIR with DIR/<family>/NAME_<file>.csv (e.g. numenta=../shared/data/nab/reference/numenta)"},
		},
		Action: func(c *ucli.Context) error {
			dets := []nab.Detector{{Name: "amoskys", New: func() nab.Scorer { return temporal.NewDetector(temporal.DefaultConfig()) }}}
			if !c.Bool("no-baseline") {
				dets = append(dets, nab.Detector{Name: "windowedGaussian", New: func() nab.Scorer { return nab.NewWindowedGaussian() }})
			}
			refs := map[string]string{}
			for _, r := range c.StringSlice("reference") {
				name, dir, ok := strings.Cut(r, "=")
				if !ok || name == "" || dir == "" {
					return fmt.Errorf("bench nab: --reference %q is not NAME=DIR", r)
				}
				refs[name] = dir
			}
			reps, err := nab.Bench(nab.BenchOptions{
				Data: c.String("data"), Out: c.String("out"), Labels: c.String("labels"), Profiles: c.String("profiles"),
				References: refs,
			}, dets)
			if err != nil {
				return fmt.Errorf("bench nab: %w", err)
			}
			nab.PrintReport(os.Stdout, reps)
			return nil
		},
	})
}
