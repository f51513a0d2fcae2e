package nab

import (
	"syscall"
	"time"
)

// CPUTime is the CPU time (user + system) this process has used so far; on a shared machine it
// measures work per core where wall time also measures the neighbours.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
