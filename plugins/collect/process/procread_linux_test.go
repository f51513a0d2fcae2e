//go:build linux

package process

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// The raw readers agree with the standard library on this machine's /proc.
func TestRawProcReads(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux /proc")
	}
	self := os.Getpid()
	want, err := os.ReadFile("/proc/self/cmdline")
	require.NoError(t, err)
	got, err := readInto("/proc/"+strconv.Itoa(self)+"/cmdline", make([]byte, 0, 3)) // grows
	require.NoError(t, err)
	require.Equal(t, want, got)
	got, err = readIntoMax("/proc/self/cmdline", nil, 4)
	require.NoError(t, err)
	require.Less(t, len(got), len(want)+1)
	require.Greater(t, len(got), 4, "reads past max once, so the caller sees the cut")
	_, err = readInto("/proc/0/stat", nil)
	require.ErrorIs(t, err, os.ErrNotExist)

	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	n, err := fdCount("/proc/self/fd", make([]byte, 4096))
	require.NoError(t, err)
	require.InDelta(t, len(ents), int(n), 2, "stat size of /proc/PID/fd is the fd count (±the dir fds open here)")
	c, err := countEntries("/proc/self/fd", make([]byte, 4096))
	require.NoError(t, err)
	require.InDelta(t, len(ents), int(c), 2)

	pids, err := listPids("/proc", make([]byte, 4096), nil)
	require.NoError(t, err)
	require.Contains(t, pids, int32(self))
	require.Contains(t, pids, int32(1))
	names, err := filepath.Glob("/proc/[0-9]*")
	require.NoError(t, err)
	require.InDelta(t, len(names), len(pids), 20, "processes come and go between the two listings")
	require.True(t, slices.IndexFunc(pids, func(p int32) bool { return p <= 0 }) < 0)
}
