package clickhouse

import "runtime"

func numCPU() int { return runtime.NumCPU() }
