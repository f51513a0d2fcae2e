package commands

import (
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/amoskys/amoskys/internal/cli"
	"github.com/amoskys/amoskys/internal/replay"
)

func init() {
	cli.RegisterSub("bench", "benchmarks", &ucli.Command{
		Name: "replay",
		Usage: "replay through the detect chain vs the same number of Benthos noop stages and of public-API " +
			"pass-through stages, in one run, then each stage's own CPU cost",
		Flags: []ucli.Flag{
			&ucli.IntFlag{Name: "events", Value: 1000000, Usage: "synthetic events"},
			&ucli.IntFlag{Name: "hosts", Value: 8, Usage: "hosts the events come from"},
			&ucli.IntFlag{Name: "batch", Value: 5000, Usage: "events per batch"},
			&ucli.IntFlag{Name: "rounds", Value: 2, Usage: "throughput runs of each pipeline, interleaved (the best of each is compared, and our stages against the framework round by round)"},
			&ucli.IntFlag{Name: "stage-events", Value: 300000, Usage: "events of the per-stage runs (prefixes of the pipeline; 0: all)"},
			&ucli.StringFlag{Name: "pipeline", Value: "pipelines/detect.yaml", Usage: "pipeline to replay through"},
			&ucli.IntFlag{Name: "gc-percent", Value: replay.DefaultGCPercent, Usage: "Go GC percent for every run, as amoskys replay sets it (0: the process's GOGC)"},
			&ucli.Int64Flag{Name: "memory-limit-mib", Value: replay.DefaultMemoryLimit >> 20, Usage: "soft memory limit with --gc-percent (MiB)"},
			&ucli.IntFlag{Name: "workers", Value: 2, Usage: "also replay through this many copies of the pipeline, the hosts split between them (amoskys replay --workers); 1: not"},
			&ucli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile of the whole bench to this file (go tool pprof)"},
		},
		Action: func(c *ucli.Context) error {
			if p := c.String("cpuprofile"); p != "" {
				f, err := os.Create(p)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("cpu profile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			return replay.BenchReport(c.Context, os.Stdout, replay.BenchReportOptions{
				Pipeline: c.String("pipeline"), Events: c.Int("events"), Hosts: c.Int("hosts"), Batch: c.Int("batch"),
				Rounds: c.Int("rounds"), Start: time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Hour),
				GCPercent: c.Int("gc-percent"), MemoryLimit: c.Int64("memory-limit-mib") << 20, StageEvents: c.Int("stage-events"), Workers: c.Int("workers")})
		},
	})
}
