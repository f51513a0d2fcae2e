package iforest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"runtime"
	"sort"
	"time"
)

// BenchResult holds one data set's figures. Times are wall clock: for benchmarks only.
type BenchResult struct {
	Impl           string    `json:"impl"`
	File           string    `json:"file"`
	Rows           int       `json:"rows"`
	Features       int       `json:"features"`
	Outliers       int       `json:"outliers"`
	Seeds          int       `json:"seeds"`
	ROCAUC         float64   `json:"roc_auc"` // mean over seeds
	AUCSeeds       []float64 `json:"roc_auc_seeds"`
	FitMS          float64   `json:"fit_ms"`       // mean fit time, all cores
	FitMS1         float64   `json:"fit_ms_1core"` // mean fit time, one goroutine
	RowsPerS1      float64   `json:"rows_per_s_1core"`
	RowsPerSAll    float64   `json:"rows_per_s_all"`
	Cores          int       `json:"cores"`
	SingleRowUS    float64   `json:"single_row_us"`     // Score of one row, mean over many calls
	SingleExplainU float64   `json:"single_explain_us"` // Explain of one row (score + shares + sort)
	// The same single-core figures in CPU time of the scoring thread: steadier than wall time on a
	// shared machine (what other processes take does not count).
	RowsPerS1CPU   float64 `json:"rows_per_s_1core_cpu"`
	FitMS1CPU      float64 `json:"fit_ms_1core_cpu"` // one-goroutine fit, process CPU time
	SingleRowUSCPU float64 `json:"single_row_us_cpu"`
}

// Bench fits a forest for each seed 0..seeds-1 on the whole set (unsupervised), scores every
// row and reports the mean ROC AUC, fit time, throughput and single-row latency.
func Bench(name string, d *Labelled, seeds int, p Params) (BenchResult, error) {
	r := BenchResult{Impl: "amoskys", File: filepath.Base(name), Rows: d.X.Rows, Features: d.X.Cols, Seeds: seeds,
		Cores: runtime.GOMAXPROCS(0)}
	for _, l := range d.Labels {
		if l {
			r.Outliers++
		}
	}
	var fitAll, fit1, fit1CPU time.Duration
	var last *Model
	for s := range seeds {
		p.Seed = uint64(s)
		p.Workers = 0
		t0 := time.Now()
		f, err := Fit(d.X, p)
		fitAll += time.Since(t0)
		if err != nil {
			return r, err
		}
		p1 := p
		p1.Workers = 1
		t0, c0 := time.Now(), processCPU()
		if _, err := Fit(d.X, p1); err != nil {
			return r, err
		}
		fit1 += time.Since(t0)
		fit1CPU += processCPU() - c0
		auc := ROCAUC(f.ScoreAll(d.X, 1), d.Labels)
		r.AUCSeeds = append(r.AUCSeeds, auc)
		r.ROCAUC += auc / float64(seeds)
		if s == 0 {
			last, err = Train(d.Names, d.X, TrainOptions{Params: p})
			if err != nil {
				return r, err
			}
		}
	}
	r.FitMS = float64(fitAll.Microseconds()) / 1e3 / float64(seeds)
	r.FitMS1 = float64(fit1.Microseconds()) / 1e3 / float64(seeds)
	r.FitMS1CPU = float64(fit1CPU.Microseconds()) / 1e3 / float64(seeds)
	f := last.Forest()
	out := make([]float64, d.X.Rows)
	r.RowsPerS1, r.RowsPerS1CPU = throughput(func() { f.ScoreInto(d.X, out, 1) }, d.X.Rows)
	r.RowsPerSAll, _ = throughput(func() { f.ScoreInto(d.X, out, 0) }, d.X.Rows)
	r.SingleRowUS, r.SingleRowUSCPU = perCall(d.X, func(x []float64) { sink += last.Score(x) })
	r.SingleExplainU, _ = perCall(d.X, func(x []float64) { sink += last.Explain(x).Score })
	return r, nil
}

var sink float64

// throughput runs f (which scores rows rows) again and again for at least 300 ms and returns
// rows per second of the fastest run, in wall time and in the calling thread's CPU time: the
// fastest run is the one least disturbed by other processes (as timeit takes the minimum).
func throughput(f func(), rows int) (wall, cpu float64) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f() // warm up
	bestW, bestC := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
	for t0 := time.Now(); time.Since(t0) < 300*time.Millisecond; {
		w0, c0 := time.Now(), threadCPU()
		f()
		bestW, bestC = min(bestW, time.Since(w0)), min(bestC, threadCPU()-c0)
	}
	wall = float64(rows) / bestW.Seconds()
	if bestC > 0 {
		cpu = float64(rows) / bestC.Seconds()
	}
	return wall, cpu
}

// perCall returns the median over batches of the mean wall time per single-row call, and the
// mean thread CPU time per call, in µs.
func perCall(X Matrix, f func([]float64)) (wall, cpu float64) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const batch = 1000
	var per []float64
	t0, c0 := time.Now(), threadCPU()
	i := 0
	for len(per) < 5 || time.Since(t0) < 200*time.Millisecond {
		b0 := time.Now()
		for range batch {
			f(X.Row(i % X.Rows))
			i++
		}
		per = append(per, float64(time.Since(b0).Nanoseconds())/batch/1e3)
	}
	sort.Float64s(per)
	return per[len(per)/2], float64((threadCPU() - c0).Nanoseconds()) / float64(i) / 1e3
}

// WriteBenchTable prints results as a text table.
func WriteBenchTable(w io.Writer, rs []BenchResult) {
	fmt.Fprintf(w, "%-16s %6s %4s %5s %6s %9s %9s %12s %12s %9s %10s\n",
		"file", "rows", "d", "outl", "auc", "fit_ms", "fit_ms_1", "rows/s_1", "rows/s_all", "row_us", "explain_us")
	for _, r := range rs {
		fmt.Fprintf(w, "%-16s %6d %4d %5d %6.3f %9.2f %9.2f %12.0f %12.0f %9.2f %10.2f\n",
			r.File, r.Rows, r.Features, r.Outliers, r.ROCAUC, r.FitMS, r.FitMS1, r.RowsPerS1, r.RowsPerSAll,
			r.SingleRowUS, r.SingleExplainU)
	}
}

// WriteBenchJSON prints one JSON object per result.
func WriteBenchJSON(w io.Writer, rs []BenchResult) error {
	enc := json.NewEncoder(w)
	for _, r := range rs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}
