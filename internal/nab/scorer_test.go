package nab

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sharedNAB returns ../shared/data/nab relative to the module root, or skips.
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
	if _, err := os.Stat(filepath.Join(p, "reference", "numenta_per_file_scores.csv")); err != nil {
		t.Skipf("NAB reference data absent at %s: %v", p, err)
	}
	return p
}

func TestScaledSigmoid(t *testing.T) {
	require.InDelta(t, 0.98661, ScaledSigmoid(-1), 1e-5)
	require.InDelta(t, 0, ScaledSigmoid(0), 1e-12)
	require.InDelta(t, -0.98661, ScaledSigmoid(1), 1e-5)
	require.Equal(t, -1.0, ScaledSigmoid(3))
	require.Equal(t, 750, Probation(10000))
	require.Equal(t, 604, Probation(4032))
}

// TestSweepHandmade checks the rules on a small file whose worth is computed by hand.
func TestSweepHandmade(t *testing.T) {
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 40 // probation 6
	ts := make([]time.Time, n)
	for i := range ts {
		ts[i] = base.Add(time.Duration(i) * time.Minute)
	}
	ws := []Window{{ts[10], ts[14]}, {ts[30], ts[33]}}
	scores := make([]float64, n)
	scores[2] = 1  // probation: ignored
	scores[8] = 1  // before any window: -FP
	scores[10] = 1 // first row of window 1: +TP
	scores[12] = 1 // later in window 1: does not add
	scores[20] = 1 // after window 1: s(6/4)*FP
	c := DefaultProfiles["standard"]
	sw, err := Sweep("x", ts, scores, ws, c)
	require.NoError(t, err)
	require.Equal(t, 2, sw.Windows)
	fs := sw.ScoreAt(0.5, c)
	want := -0.11 + 1 + ScaledSigmoid(6.0/4)*0.11 - 1
	require.InDelta(t, want, fs.Score, 1e-12)
	require.Equal(t, 2, fs.TP)
	require.Equal(t, 2, fs.FP)
	require.Equal(t, 3+4, fs.FN)
	require.Equal(t, n-6-9-2, fs.TN)
	opt := Optimise([]*Swept{sw}, c)
	require.Equal(t, 1.0, opt.Threshold)
	require.InDelta(t, want, opt.Score, 1e-12)
}

// TestReproducesNumentaPerFileScores scores Numenta HTM's published per-row scores at its stored
// thresholds and compares every per-file raw score and count with NAB's published results.
func TestReproducesNumentaPerFileScores(t *testing.T) {
	root := sharedNAB(t)
	windows, err := LoadWindows(filepath.Join(root, "labels", "combined_windows.json"))
	require.NoError(t, err)
	profiles, err := LoadProfiles(filepath.Join(root, "config", "profiles.json"))
	require.NoError(t, err)
	require.Equal(t, DefaultProfiles, profiles)

	var thresholds map[string]map[string]struct {
		Threshold float64 `json:"threshold"`
	}
	b, err := os.ReadFile(filepath.Join(root, "reference", "numenta_thresholds.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &thresholds))

	f, err := os.Open(filepath.Join(root, "reference", "numenta_per_file_scores.csv"))
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"Detector", "Profile", "File", "Threshold", "Score", "TP", "TN", "FP", "FN", "Total_Count"}, recs[0])

	cache := map[string]*Series{}
	checked := 0
	for _, rec := range recs[1:] {
		profile, name := rec[1], rec[2]
		t.Run(profile+"/"+name, func(t *testing.T) {
			s := cache[name]
			if s == nil {
				fam, file, _ := strings.Cut(name, "/")
				s, err = ReadSeriesFile(filepath.Join(root, "reference", "numenta", fam, "numenta_"+file), name)
				require.NoError(t, err)
				cache[name] = s
			}
			cost := profiles[profile]
			sw, err := Sweep(name, s.Timestamps, s.Scores, windows[name], cost)
			require.NoError(t, err)
			fs := sw.ScoreAt(thresholds["numenta"][profile].Threshold, cost)
			num := func(i int) float64 {
				v, err := strconv.ParseFloat(rec[i], 64)
				require.NoError(t, err)
				return v
			}
			require.InDelta(t, num(4), fs.Score, 1e-4, "raw score")
			require.Equal(t, []int{int(num(5)), int(num(6)), int(num(7)), int(num(8)), int(num(9))},
				[]int{fs.TP, fs.TN, fs.FP, fs.FN, fs.Total}, "TP TN FP FN Total")
		})
		checked++
	}
	require.Equal(t, 3*len(windows), checked, "one row per profile and file")
}

// TestNumentaCorpusThreshold checks the optimiser on the published scores: its raw score is at
// least the one at Numenta's stored threshold (optimised over the full corpus) for every profile.
func TestNumentaCorpusThreshold(t *testing.T) {
	root := sharedNAB(t)
	windows, err := LoadWindows(filepath.Join(root, "labels", "combined_windows.json"))
	require.NoError(t, err)
	names, err := ListCorpus(filepath.Join(root, "data"))
	require.NoError(t, err)
	if raceEnabled {
		names = names[:8] // the whole corpus is slow under -race; the optimiser's logic is the same
	}
	var series []*Series
	for _, n := range names {
		fam, file, _ := strings.Cut(n, "/")
		s, err := ReadSeriesFile(filepath.Join(root, "reference", "numenta", fam, "numenta_"+file), n)
		require.NoError(t, err)
		series = append(series, s)
	}
	for _, p := range ProfileNames {
		cost := DefaultProfiles[p]
		res, err := ScoreCorpus(p, series, windows, cost)
		require.NoError(t, err)
		var at float64
		for _, s := range series {
			sw, err := Sweep(s.Name, s.Timestamps, s.Scores, windows[s.Name], cost)
			require.NoError(t, err)
			at += sw.ScoreAt(0.5421876907348634, cost).Score
		}
		require.GreaterOrEqual(t, res.Raw, at-1e-9)
		require.False(t, math.IsNaN(res.Normalised))
		t.Logf("%s: threshold %.4f raw %.3f normalised %.1f over %d windows", p, res.Threshold, res.Raw, res.Normalised, res.Windows)
	}
}

func TestSweepRejectsNaN(t *testing.T) {
	ts := []time.Time{time.Unix(0, 0), time.Unix(60, 0)}
	_, err := Sweep("x", ts, []float64{0, math.NaN()}, nil, DefaultProfiles["standard"])
	require.ErrorContains(t, err, "NaN")
}
