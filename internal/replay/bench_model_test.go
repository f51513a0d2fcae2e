package replay

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/iforest"
	windowstage "github.com/amoskys/amoskys/processors/window"
)

// The bench's model is a real host model the iforest stage loads: host key kind, trained on
// every host window of the prefix.
func TestBenchModel(t *testing.T) {
	dir := t.TempDir()
	models, rows, err := BenchModel(dir, 20000, 4, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	require.Greater(t, rows, 4*5, "several one-minute host windows per host")
	m, err := iforest.LoadFile(filepath.Join(models, "iforest.json"), iforest.Expect{})
	require.NoError(t, err)
	require.Equal(t, windowstage.KindHost, m.KeyKind)
	require.Equal(t, rows, m.Training.Rows)
}
