package collectbench

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRunShort runs the whole benchmark briefly: every phase must produce figures.
func TestRunShort(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	if testing.Short() {
		t.Skip("runs the collectors for a few seconds")
	}
	var log bytes.Buffer
	rep, err := Run(t.Context(), Options{Duration: 2 * time.Second, Baseline: 500 * time.Millisecond,
		Interval: 500 * time.Millisecond, Snapshots: 3, Walks: 2, NoSNMP: true, SnapshotsOnly: time.Second}, &log)
	require.NoError(t, err)
	require.Positive(t, rep.Run.Events, "the collect stream produced events")
	require.Positive(t, rep.Run.RSSMB)
	require.Positive(t, rep.Processes)
	require.Positive(t, rep.PollCPU, "the three polls are timed")
	require.Positive(t, rep.Run.AnonMB)
	require.Positive(t, rep.Run.FileMB)
	var out bytes.Buffer
	Print(&out, rep)
	require.Contains(t, out.String(), "collectors minus baseline")
	require.Contains(t, out.String(), "CPU per process")
	require.Contains(t, out.String(), "polling per")
}
