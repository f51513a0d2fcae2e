package temporal

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/nab"
)

func sharedNAB(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("module root not found")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "data", "nab")
	if _, err := os.Stat(filepath.Join(p, "labels", "combined_windows.json")); err != nil {
		t.Skipf("NAB data absent at %s: %v", p, err)
	}
	return p
}

// TestNAB runs the detector over the NAB corpus and logs the three normalised scores.
func TestNAB(t *testing.T) {
	root := sharedNAB(t)
	cfg := DefaultConfig()
	if e := os.Getenv("NAB_CFG"); e != "" {
		require.NoError(t, json.Unmarshal([]byte(e), &cfg))
	}
	if e := os.Getenv("NAB_VARS"); e != "" { // experiments on package tunables
		for _, kv := range strings.Split(e, ",") {
			k, v, _ := strings.Cut(kv, "=")
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			switch k {
			case "seasonPeakDecay":
				seasonPeakDecay = f
			case "modelSwitchKeep":
				modelSwitchKeep = f
			case "zCap":
				zCap = f
			case "minSeasonDays":
				minSeasonDays = uint32(f)
			}
		}
	}
	data := filepath.Join(root, "data")
	if raceEnabled {
		// Under -race the whole corpus takes a minute: run one family through the same harness.
		data = filepath.Join(t.TempDir(), "data")
		require.NoError(t, os.MkdirAll(data, 0o755))
		require.NoError(t, os.Symlink(filepath.Join(root, "data", "realTraffic"), filepath.Join(data, "realTraffic")))
	}
	reps, err := nab.Bench(nab.BenchOptions{
		Data:   data,
		Labels: filepath.Join(root, "labels", "combined_windows.json"),
	}, []nab.Detector{
		{Name: "amoskys", New: func() nab.Scorer { return NewDetector(cfg) }},
		{Name: "windowedGaussian", New: func() nab.Scorer { return nab.NewWindowedGaussian() }},
	})
	require.NoError(t, err)
	var sb strings.Builder
	nab.PrintReport(&sb, reps)
	t.Log("\n" + sb.String())
	if os.Getenv("NAB_PERFILE") != "" {
		for _, f := range reps[0].Results[0].Files {
			t.Logf("%-60s %7.3f tp=%d fp=%d fn=%d", f.Name, f.Score, f.TP, f.FP, f.FN)
		}
	}
	if raceEnabled {
		require.Greater(t, reps[0].Results[0].Normalised, 50.0, "standard NAB score on realTraffic alone (70.7 when written)")
		return
	}
	require.Greater(t, reps[0].Results[0].Normalised, 60.0, "standard NAB score (68.0 when written)")
}
