//go:build !linux

package iforest

import "time"

// threadCPU is not measured off Linux; CPU-time figures read 0.
func threadCPU() time.Duration { return 0 }

// processCPU is not measured off Linux.
func processCPU() time.Duration { return 0 }
