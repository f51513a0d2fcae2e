package nab

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// ProbationPercent is NAB's fraction of each file left unscored while detectors learn.
const ProbationPercent = 0.15

// Probation returns NAB's probationary length for a file of n rows: min(floor(0.15 n), 750).
func Probation(n int) int {
	return int(math.Min(math.Floor(ProbationPercent*float64(n)), ProbationPercent*5000))
}

// ScaledSigmoid is NAB's s(x) = 2/(1+exp(5x)) - 1, and -1 from x >= 3 (as NAB's sweeper).
func ScaledSigmoid(x float64) float64 {
	if x >= 3.0 {
		return -1.0
	}
	return 2/(1+math.Exp(5*x)) - 1
}

// noWindow marks a scored row outside every window.
const noWindow = -1

// Row is one scored (post-probation) row: the detector's anomaly score, what a detection there
// is worth (NAB's "sweep score", already weighted by the profile), and its window (-1 outside).
type Row struct {
	Score  float64
	Sweep  float64
	Window int32
}

// Swept is one file prepared for scoring under one profile.
type Swept struct {
	Name    string
	Rows    []Row // post-probation rows only
	Windows int   // windows with at least one scored row
	Total   int   // all rows, probation included
}

// windowIndices maps window timestamps to row indices: the first row at or after the start and
// the last row at or before the end (NAB's labels use exact row timestamps, where both agree
// with NAB's exact-match lookup).
func windowIndices(ts []time.Time, ws []Window) [][2]int {
	out := make([][2]int, 0, len(ws))
	for _, w := range ws {
		l := sort.Search(len(ts), func(i int) bool { return !ts[i].Before(w.Start) })
		r := sort.Search(len(ts), func(i int) bool { return ts[i].After(w.End) }) - 1
		if l >= len(ts) || r < l {
			continue
		}
		out = append(out, [2]int{l, r})
	}
	return out
}

// Sweep computes, for every row of a file, what a detection there is worth under cost, as NAB's
// Sweeper.calcSweepScore: inside a window [L,R] of width W a detection at i is worth
// s(-(R-i+1)/W)*TP/s(-1); outside, before any window, -FP; after a window (right edge Rp, width
// Wp) s(|Rp-i|/(Wp-1))*FP. Probation rows are dropped.
func Sweep(name string, ts []time.Time, scores []float64, windows []Window, cost CostMatrix) (*Swept, error) {
	if len(ts) != len(scores) {
		return nil, fmt.Errorf("%s: %d timestamps but %d scores", name, len(ts), len(scores))
	}
	for i, sc := range scores {
		if math.IsNaN(sc) {
			return nil, fmt.Errorf("%s: row %d: anomaly score is NaN", name, i)
		}
	}
	idx := windowIndices(ts, windows)
	prob := Probation(len(ts))
	maxTP := ScaledSigmoid(-1)
	sw := &Swept{Name: name, Total: len(ts), Rows: make([]Row, 0, len(ts)-prob)}
	next := 0
	cur := -1 // index into idx of the window we are in
	prevR, prevW := -1, 0.0
	seen := make([]bool, len(idx))
	for i := range ts {
		if cur < 0 && next < len(idx) && i == idx[next][0] {
			cur = next
			next++
		}
		var w float64
		win := int32(noWindow)
		if cur >= 0 {
			L, R := idx[cur][0], idx[cur][1]
			width := float64(R - L + 1)
			w = ScaledSigmoid(-float64(R-i+1)/width) * cost.TP / maxTP
			win = int32(cur)
		} else if prevR < 0 {
			w = ScaledSigmoid(3.0) * cost.FP
		} else {
			d := prevW - 1
			if d < 1 {
				d = 1 // a one-row window: NAB divides by zero here; treat as width 2
			}
			w = ScaledSigmoid(math.Abs(float64(prevR-i))/d) * cost.FP
		}
		if i >= prob {
			sw.Rows = append(sw.Rows, Row{Score: scores[i], Sweep: w, Window: win})
			if win >= 0 && !seen[win] {
				seen[win] = true
				sw.Windows++
			}
		}
		if cur >= 0 && i == idx[cur][1] {
			prevR, prevW = i, float64(idx[cur][1]-idx[cur][0]+1)
			cur = -1
		}
	}
	// Renumber windows densely so only scored windows exist.
	remap := make([]int32, len(idx))
	n := int32(0)
	for k, s := range seen {
		remap[k] = -1
		if s {
			remap[k] = n
			n++
		}
	}
	for i := range sw.Rows {
		if sw.Rows[i].Window >= 0 {
			sw.Rows[i].Window = remap[sw.Rows[i].Window]
		}
	}
	return sw, nil
}

// FileScore is one file's result at one threshold (NAB's per-file results row).
type FileScore struct {
	Name           string
	Threshold      float64
	Score          float64
	TP, TN, FP, FN int
	Total          int
}

// ScoreAt scores a swept file with detections at anomaly score >= threshold: the earliest
// detection per window counts, each undetected window costs -FN, every detection outside windows
// adds its (negative) sweep score. Counts are over scored rows.
func (s *Swept) ScoreAt(threshold float64, cost CostMatrix) FileScore {
	fs := FileScore{Name: s.Name, Threshold: threshold, Total: s.Total}
	best := make([]float64, s.Windows)
	for i := range best {
		best[i] = -cost.FN
	}
	fp := 0.0
	for _, r := range s.Rows {
		det := r.Score >= threshold
		switch {
		case r.Window >= 0 && det:
			fs.TP++
			best[r.Window] = math.Max(best[r.Window], r.Sweep)
		case r.Window >= 0:
			fs.FN++
		case det:
			fs.FP++
			fp += r.Sweep
		default:
			fs.TN++
		}
	}
	fs.Score = fp
	for _, b := range best {
		fs.Score += b
	}
	return fs
}

// Threshold is one candidate threshold's corpus score.
type Threshold struct {
	Threshold float64
	Score     float64
}

// Optimise finds the threshold that maximises the summed raw score over all files, as NAB's
// optimiser: candidates are 1.1 (no detection) and every distinct anomaly score; among equal
// scores the highest threshold wins.
func Optimise(files []*Swept, cost CostMatrix) Threshold {
	type item struct {
		score, sweep float64
		win          int32
	}
	var all []item
	nw := int32(0)
	for _, f := range files {
		for _, r := range f.Rows {
			w := r.Window
			if w >= 0 {
				w += nw
			}
			all = append(all, item{r.Score, r.Sweep, w})
		}
		nw += int32(f.Windows)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].score > all[j].score })
	best := make([]float64, nw)
	for i := range best {
		best[i] = -cost.FN
	}
	total := -cost.FN * float64(nw)
	bestT := Threshold{Threshold: 1.1, Score: total}
	for i := 0; i < len(all); {
		t := all[i].score
		for first := true; i < len(all) && (first || all[i].score == t); i, first = i+1, false {
			it := all[i]
			if it.win < 0 {
				total += it.sweep
			} else if it.sweep > best[it.win] {
				total += it.sweep - best[it.win]
				best[it.win] = it.sweep
			}
		}
		if t <= 1.1 && total > bestT.Score+1e-12 {
			bestT = Threshold{Threshold: t, Score: total}
		}
	}
	return bestT
}

// Normalise maps a raw corpus score to NAB's 0..100 scale: 100*(raw-null)/(perfect-null), with
// perfect = windows*TP and null (never fires) = -windows*FN.
func Normalise(raw float64, windows int, cost CostMatrix) float64 {
	perfect := float64(windows) * cost.TP
	null := -float64(windows) * cost.FN
	if perfect == null {
		return 0
	}
	return 100 * (raw - null) / (perfect - null)
}

// CorpusResult is one profile's outcome over a corpus.
type CorpusResult struct {
	Profile    string
	Threshold  float64
	Raw        float64
	Normalised float64
	Windows    int
	Files      []FileScore
}

// ScoreCorpus sweeps every series (Scores set) under cost, optimises the threshold over all of
// them and returns the per-file scores at that threshold. Series missing from windows are
// scored as having no windows.
func ScoreCorpus(profile string, series []*Series, windows map[string][]Window, cost CostMatrix) (*CorpusResult, error) {
	swept := make([]*Swept, 0, len(series))
	nw := 0
	for _, s := range series {
		sw, err := Sweep(s.Name, s.Timestamps, s.Scores, windows[s.Name], cost)
		if err != nil {
			return nil, err
		}
		swept = append(swept, sw)
		nw += sw.Windows
	}
	th := Optimise(swept, cost)
	res := &CorpusResult{Profile: profile, Threshold: th.Threshold, Windows: nw}
	for _, sw := range swept {
		fs := sw.ScoreAt(th.Threshold, cost)
		res.Raw += fs.Score
		res.Files = append(res.Files, fs)
	}
	res.Normalised = Normalise(res.Raw, nw, cost)
	return res, nil
}
