package commands

import (
	"fmt"
	"os"

	ucli "github.com/urfave/cli/v2"

	"github.com/amoskys/amoskys/internal/cli"
	"github.com/amoskys/amoskys/plugins/collect/collectbench"
)

func init() {
	cli.RegisterSub("bench", "benchmarks", &ucli.Command{
		Name:  "collect",
		Usage: "CPU share and RSS of the collectors against an idle baseline, CPU per process per snapshot, SNMP walk latency (v2c, v3) against a local snmpd",
		Flags: []ucli.Flag{
			&ucli.DurationFlag{Name: "duration", Usage: "how long the collectors run", Value: collectbenchDefaults.Duration},
			&ucli.DurationFlag{Name: "baseline", Usage: "how long the idle baseline runs first", Value: collectbenchDefaults.Baseline},
			&ucli.DurationFlag{Name: "interval", Usage: "collector interval", Value: collectbenchDefaults.Interval},
			&ucli.IntFlag{Name: "top", Usage: "process_sample top N", Value: 20},
			&ucli.IntFlag{Name: "walks", Usage: "SNMP walks per version", Value: 20},
			&ucli.BoolFlag{Name: "no-snmp", Usage: "skip the SNMP walks (no snmpd needed)"},
			&ucli.DurationFlag{Name: "snapshots-only", Usage: "then run the collectors this long with the connector off (fixed polling cost); 0 skips", Value: 30e9},
			&ucli.BoolFlag{Name: "no-trim", Usage: "keep the binary's text mapped as the kernel mapped it (no memory.trim_text)"},
			&ucli.StringFlag{Name: "cpuprofile", Usage: "write a pprof CPU profile of the collectors phase to this file"},
		},
		Action: func(c *ucli.Context) error {
			rep, err := collectbench.Run(c.Context, collectbench.Options{
				Duration: c.Duration("duration"), Baseline: c.Duration("baseline"), Interval: c.Duration("interval"),
				SampleTopN: c.Int("top"), Walks: c.Int("walks"), NoSNMP: c.Bool("no-snmp"), CPUProfile: c.String("cpuprofile"),
				SnapshotsOnly: c.Duration("snapshots-only"), NoTrim: c.Bool("no-trim"),
			}, os.Stderr)
			if err != nil {
				return fmt.Errorf("bench collect: %w", err)
			}
			collectbench.Print(os.Stdout, rep)
			return nil
		},
	})
}

var collectbenchDefaults = collectbench.Options{Duration: 60e9, Baseline: 20e9, Interval: 5e9}
