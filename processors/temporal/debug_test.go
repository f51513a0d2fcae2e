package temporal

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/amoskys/amoskys/internal/nab"
)

func TestDebugNAB(t *testing.T) {
	if os.Getenv("NAB_DEBUG") == "" {
		t.Skip("NAB_DEBUG unset")
	}
	root := sharedNAB(t)
	windows, _ := nab.LoadWindows(filepath.Join(root, "labels", "combined_windows.json"))
	names, _ := nab.ListCorpus(filepath.Join(root, "data"))
	for _, n := range names {
		s, _ := nab.ReadSeriesFile(filepath.Join(root, "data", n), n)
		d := NewDetector(DefaultConfig())
		prob := nab.Probation(s.Len())
		var inMax, outMax float64
		var inArg, outArg int
		first := ""
		for i, v := range s.Values {
			r := d.Update(s.Timestamps[i], v)
			in := false
			for _, w := range windows[n] {
				if !s.Timestamps[i].Before(w.Start) && !s.Timestamps[i].After(w.End) {
					in = true
				}
			}
			if i < prob {
				continue
			}
			if in && r.Score > inMax {
				inMax, inArg = r.Score, i
			}
			if !in && r.Score > outMax {
				outMax, outArg = r.Score, i
				first = r.Reason("v")
			}
		}
		fmt.Printf("%-55s n=%5d in=%.3f@%d out=%.3f@%d  %s\n", n, s.Len(), inMax, inArg, outMax, outArg, first)
	}
}

func TestDebugTrace(t *testing.T) {
	n := os.Getenv("NAB_TRACE")
	if n == "" {
		t.Skip("NAB_TRACE unset")
	}
	root := sharedNAB(t)
	windows, _ := nab.LoadWindows(filepath.Join(root, "labels", "combined_windows.json"))
	s, _ := nab.ReadSeriesFile(filepath.Join(root, "data", n), n)
	d := NewDetector(DefaultConfig())
	for i, v := range s.Values {
		r := d.Update(s.Timestamps[i], v)
		mark := " "
		for _, w := range windows[n] {
			if !s.Timestamps[i].Before(w.Start) && !s.Timestamps[i].After(w.End) {
				mark = "W"
			}
		}
		if r.Score > 0.15 || (mark == "W" && i%10 == 0) {
			fmt.Printf("%5d %s %s %.3f %s\n", i, s.Raw[i], mark, r.Score, r.Reason("v"))
		}
	}
}

func TestDebugCompare(t *testing.T) {
	if os.Getenv("NAB_CMP") == "" {
		t.Skip("NAB_CMP unset")
	}
	root := sharedNAB(t)
	reps, err := nab.Bench(nab.BenchOptions{
		Data:       filepath.Join(root, "data"),
		Labels:     filepath.Join(root, "labels", "combined_windows.json"),
		References: map[string]string{"numenta": filepath.Join(root, "reference", "numenta")},
	}, []nab.Detector{{Name: "amoskys", New: func() nab.Scorer { return NewDetector(DefaultConfig()) }}})
	if err != nil {
		t.Fatal(err)
	}
	h, a := reps[0].Results[0].Files, reps[1].Results[0].Files
	for i := range h {
		fmt.Printf("%-55s htm %6.2f tp=%2d fp=%2d | ours %6.2f tp=%2d fp=%2d  %s\n", h[i].Name, h[i].Score, h[i].TP, h[i].FP, a[i].Score, a[i].TP, a[i].FP, map[bool]string{true: "<<<", false: ""}[h[i].Score-a[i].Score > 0.5])
	}
}
