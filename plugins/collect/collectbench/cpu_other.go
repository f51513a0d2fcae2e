//go:build !unix

package collectbench

import "time"

// cpuTime is not measured here (Run refuses non-Linux systems anyway).
func cpuTime() time.Duration { return 0 }
