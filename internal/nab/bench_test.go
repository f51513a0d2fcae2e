package nab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// oracle fires on rows whose value is above 50: a stand-in detector for the harness test.
type oracle struct{}

func (oracle) Score(_ time.Time, v float64) float64 {
	if v > 50 {
		return 1
	}
	return 0
}

func writeCSV(t *testing.T, path string, vals []float64) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, v := range vals {
		fmt.Fprintf(&b, "%s,%g\n", base.Add(time.Duration(i)*5*time.Minute).Format("2006-01-02 15:04:05"), v)
	}
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
}

// TestBenchSyntheticCorpus runs the harness over a corpus with a labelled family and a family
// the labels do not know, writes NAB's results layout and scores a perfect detector at 100.
func TestBenchSyntheticCorpus(t *testing.T) {
	dir := t.TempDir()
	data, out := filepath.Join(dir, "data"), filepath.Join(dir, "out")
	vals := make([]float64, 200)
	vals[120] = 99
	writeCSV(t, filepath.Join(data, "famA", "a.csv"), vals)
	writeCSV(t, filepath.Join(data, "famNew", "b.csv"), make([]float64, 100))
	labels := filepath.Join(dir, "windows.json")
	require.NoError(t, os.WriteFile(labels, []byte(`{"famA/a.csv": [["2020-01-01 10:00:00.000000", "2020-01-01 10:45:00.000000"]]}`), 0o644))

	reps, err := Bench(BenchOptions{Data: data, Out: out, Labels: labels}, []Detector{{Name: "oracle", New: func() Scorer { return oracle{} }}})
	require.NoError(t, err)
	require.Len(t, reps, 1)
	require.Equal(t, 300, reps[0].Points)
	require.Equal(t, []string{"famNew/b.csv"}, reps[0].Unlabelled)
	for _, r := range reps[0].Results {
		require.Equal(t, 1, r.Windows)
		require.InDelta(t, 100, r.Normalised, 1e-9, r.Profile)
	}
	b, err := os.ReadFile(filepath.Join(out, "famA", "oracle_a.csv"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Equal(t, "timestamp,value,anomaly_score", lines[0])
	require.Equal(t, "2020-01-01 10:00:00,99,1", lines[121])
	_, err = os.Stat(filepath.Join(out, "famNew", "oracle_b.csv"))
	require.NoError(t, err)

	var sb strings.Builder
	PrintReport(&sb, reps)
	require.Contains(t, sb.String(), "oracle")
	require.Contains(t, sb.String(), "famNew/b.csv")
}
