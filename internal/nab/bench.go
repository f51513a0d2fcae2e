package nab

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Scorer scores one series point by point, in order; a new Scorer is made per file.
type Scorer interface {
	Score(t time.Time, v float64) float64
}

// Detector names a detector and makes one Scorer per file.
type Detector struct {
	Name string
	New  func() Scorer
}

// Published are NAB's published standard-profile scores over the full corpus (the scoreboard).
var Published = []struct {
	Name     string
	Standard float64
}{
	{"ARTime", 74.9}, {"Numenta HTM", 70.1}, {"contextOSE", 69.9}, {"Skyline (earthgecko)", 58.2},
	{"knncad", 58.0}, {"relativeEntropy", 54.6}, {"Random Cut Forest", 51.7},
	{"Twitter ADVec", 47.1}, {"windowedGaussian", 39.7}, {"Skyline", 35.7}, {"random", 16.8},
}

// BenchOptions configure a run of `amoskys bench nab`.
type BenchOptions struct {
	Data     string // DIR/<family>/<file>.csv
	Out      string // OUT/<family>/<detector>_<file>.csv; empty: write nothing
	Labels   string // combined_windows.json; empty: no scoring
	Profiles string // profiles.json; empty: NAB's defaults
	// References are other detectors' published results to score beside ours, by name: a
	// results directory holding <family>/<name>_<file>.csv (NAB's results layout).
	References map[string]string
}

// DetectorReport is one detector's outcome.
type DetectorReport struct {
	Name       string
	Points     int
	Elapsed    time.Duration // wall time inside the detector only
	CPU        time.Duration // process CPU time over the same spans
	PointsPerS float64
	Results    []*CorpusResult // one per profile, in ProfileNames order; nil without labels
	Unlabelled []string        // files absent from the labels, scored as having no window
}

// Bench runs every detector over every series in opts.Data and scores the results.
func Bench(opts BenchOptions, dets []Detector) ([]DetectorReport, error) {
	names, err := ListCorpus(opts.Data)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no <family>/<file>.csv under %q", opts.Data)
	}
	series := make([]*Series, 0, len(names))
	for _, n := range names {
		s, err := ReadSeriesFile(filepath.Join(opts.Data, filepath.FromSlash(n)), n)
		if err != nil {
			return nil, err
		}
		series = append(series, s)
	}
	var windows map[string][]Window
	profiles := DefaultProfiles
	if opts.Labels != "" {
		if windows, err = LoadWindows(opts.Labels); err != nil {
			return nil, err
		}
		if opts.Profiles != "" {
			if profiles, err = LoadProfiles(opts.Profiles); err != nil {
				return nil, err
			}
		}
	}
	var reports []DetectorReport
	refNames := make([]string, 0, len(opts.References))
	for n := range opts.References {
		refNames = append(refNames, n)
	}
	sort.Strings(refNames)
	for _, name := range refNames {
		if windows == nil {
			break
		}
		rep := DetectorReport{Name: name + " (published results)"}
		var scored []*Series
		for _, s := range series {
			fam, file, _ := strings.Cut(s.Name, "/")
			r, err := ReadSeriesFile(filepath.Join(opts.References[name], fam, name+"_"+file), s.Name)
			if err != nil {
				return nil, fmt.Errorf("reference %s: %w", name, err)
			}
			if len(r.Scores) != s.Len() {
				return nil, fmt.Errorf("reference %s: %s has %d scores for %d rows", name, s.Name, len(r.Scores), s.Len())
			}
			scored = append(scored, r)
		}
		for _, p := range ProfileNames {
			res, err := ScoreCorpus(p, scored, windows, profiles[p])
			if err != nil {
				return nil, err
			}
			rep.Results = append(rep.Results, res)
		}
		reports = append(reports, rep)
	}
	for _, det := range dets {
		rep := DetectorReport{Name: det.Name}
		scored := make([]*Series, len(series))
		for i, s := range series {
			sc := det.New()
			out := make([]float64, s.Len())
			start, cpu := time.Now(), CPUTime()
			for j, v := range s.Values {
				out[j] = sc.Score(s.Timestamps[j], v)
			}
			rep.Elapsed += time.Since(start)
			rep.CPU += CPUTime() - cpu
			rep.Points += s.Len()
			cp := *s
			cp.Scores = out
			scored[i] = &cp
			if opts.Out != "" {
				if err := writeResults(opts.Out, det.Name, &cp); err != nil {
					return nil, err
				}
			}
		}
		if rep.Elapsed > 0 {
			rep.PointsPerS = float64(rep.Points) / rep.Elapsed.Seconds()
		}
		if windows != nil {
			for _, s := range series {
				if _, ok := windows[s.Name]; !ok {
					rep.Unlabelled = append(rep.Unlabelled, s.Name)
				}
			}
			for _, p := range ProfileNames {
				cost, ok := profiles[p]
				if !ok {
					return nil, fmt.Errorf("profile %q missing from %s", p, opts.Profiles)
				}
				res, err := ScoreCorpus(p, scored, windows, cost)
				if err != nil {
					return nil, err
				}
				rep.Results = append(rep.Results, res)
			}
		}
		reports = append(reports, rep)
	}
	return reports, nil
}

// writeResults writes OUT/<family>/<detector>_<file>.csv in NAB's results layout.
func writeResults(outDir, det string, s *Series) error {
	fam, file, _ := strings.Cut(s.Name, "/")
	dir := filepath.Join(outDir, fam)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, det+"_"+file))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "timestamp,value,anomaly_score")
	for i := range s.Values {
		w.WriteString(s.Raw[i])
		w.WriteByte(',')
		w.WriteString(strconv.FormatFloat(s.Values[i], 'g', -1, 64))
		w.WriteByte(',')
		w.WriteString(strconv.FormatFloat(s.Scores[i], 'g', 10, 64))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// PrintReport writes the scores beside the published board, and the throughput.
func PrintReport(w io.Writer, reps []DetectorReport) {
	scoredAny := false
	for _, r := range reps {
		if r.Results != nil {
			scoredAny = true
		}
	}
	if scoredAny {
		fmt.Fprintf(w, "%-34s %10s %14s %14s %10s\n", "detector", "standard", "reward_low_FP", "reward_low_FN", "threshold")
		for _, r := range reps {
			if r.Results == nil {
				continue
			}
			fmt.Fprintf(w, "%-34s %10.1f %14.1f %14.1f %10.4f\n", r.Name,
				r.Results[0].Normalised, r.Results[1].Normalised, r.Results[2].Normalised, r.Results[0].Threshold)
		}
		fmt.Fprintf(w, "(%d windows; published standard scores, full 58-file corpus:", reps[0].Results[0].Windows)
		for i, p := range Published {
			sep := ","
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(w, "%s %s %.1f", sep, p.Name, p.Standard)
		}
		fmt.Fprintln(w, ")")
		for _, r := range reps {
			if len(r.Unlabelled) > 0 {
				fmt.Fprintf(w, "note: %d files have no entry in the labels and were scored as having no window, e.g. %s\n", len(r.Unlabelled), r.Unlabelled[0])
				break
			}
		}
	}
	for _, r := range reps {
		if r.Points == 0 {
			continue
		}
		perCPU := 0.0
		if r.CPU > 0 {
			perCPU = float64(r.Points) / r.CPU.Seconds()
		}
		fmt.Fprintf(w, "%-34s %d points on one goroutine: %.0f points/s wall (%v), %.0f points per CPU-second (%v CPU)\n",
			r.Name, r.Points, r.PointsPerS, r.Elapsed.Round(time.Millisecond), perCPU, r.CPU.Round(time.Millisecond))
	}
}

// WindowedGaussian is the baseline: NAB's windowedGaussian detector (tail probability of the
// value under a Gaussian fitted to the last Size values, refitted every Step points).
type WindowedGaussian struct {
	Size, Step int
	buf        []float64
	next       int
	full       bool
	mean, std  float64
	since      int
}

// NewWindowedGaussian uses NAB's parameters (window 6400, step 100).
func NewWindowedGaussian() *WindowedGaussian {
	return &WindowedGaussian{Size: 6400, Step: 100, buf: make([]float64, 0, 6400)}
}

// Score returns 1 - the two-sided tail probability of v, 0 until two values are seen.
func (g *WindowedGaussian) Score(_ time.Time, v float64) float64 {
	score := 0.0
	if len(g.buf) > 0 && g.std > 0 {
		z := math.Abs(v-g.mean) / g.std
		score = 1 - math.Erfc(z/math.Sqrt2)/2*2
	}
	if len(g.buf) < g.Size {
		g.buf = append(g.buf, v)
	} else {
		g.buf[g.next] = v
		g.next = (g.next + 1) % g.Size
	}
	g.since++
	if g.since >= g.Step || len(g.buf) < g.Step {
		g.since = 0
		var s, ss float64
		for _, x := range g.buf {
			s += x
		}
		g.mean = s / float64(len(g.buf))
		for _, x := range g.buf {
			ss += (x - g.mean) * (x - g.mean)
		}
		g.std = math.Sqrt(ss / float64(len(g.buf)))
	}
	return score
}
