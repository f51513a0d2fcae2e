package temporal

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/processors/window"
	"github.com/amoskys/amoskys/schemas"
)

// goldenVectors is a fixed input that reaches every branch of Judge: three days of five-minute
// windows (so the time-of-day profile takes over), a host vector with a daily cycle and rare
// spikes, process keys that churn (each slot's process lives a few windows to a few hours, then
// a new PID), one program that always starts busy (the population prior and its program
// history), vectors without samples, NaN and Inf values, and a second host.
func goldenVectors() []*schemas.FeatureVector {
	rng := rand.New(rand.NewPCG(11, 12))
	hn, pn := window.FeatureNames(window.KindHost), window.FeatureNames(window.KindProcess)
	samples := -1
	for i, n := range pn {
		if n == samplesFeature {
			samples = i
		}
	}
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var out []*schemas.FeatureVector
	const slots = 12
	for w := 0; w < 3*288; w++ {
		end := base.Add(time.Duration(w+1) * 5 * time.Minute)
		day := math.Sin(2 * math.Pi * float64(w%288) / 288)
		for _, host := range []string{"h1", "h2"} {
			hv := make([]float64, len(hn))
			for i := range hv {
				hv[i] = 20 + 8*day + float64(i%5) + 2*rng.NormFloat64()
				if i%4 == 0 {
					hv[i] = math.Round(math.Abs(hv[i]))
				}
				if rng.IntN(400) == 0 {
					hv[i] *= 6
				}
			}
			if rng.IntN(500) == 0 {
				hv[rng.IntN(len(hv))] = math.NaN()
			}
			if w == 700 && host == "h1" {
				hv[0] = math.Inf(1)
			}
			out = append(out, &schemas.FeatureVector{ID: host + "/host/" + strconv.Itoa(w), Host: host, KeyKind: window.KindHost,
				Key: "host", Window: "5m", Start: end.Add(-5 * time.Minute), End: end, Names: hn, Values: hv})
			if host == "h2" && w%3 != 0 {
				continue
			}
			for p := 0; p < slots; p++ {
				life := 2 + p*p
				pid := 1000 + p + slots*(w/life)
				pv := make([]float64, len(pn))
				for i := range pv {
					pv[i] = float64(p%5) * (1 + 0.2*rng.NormFloat64())
					if i < 2 {
						pv[i] = 0.3 * rng.Float64() * float64(p%3)
					}
					if i%3 == 0 {
						pv[i] = math.Round(math.Abs(pv[i]))
					}
				}
				entity := "prog" + strconv.Itoa(p%7)
				if p == 3 { // a burner: every new process of it is busy from its first window
					pv[0], pv[1] = 85+10*rng.Float64(), 99
					entity = "burner"
				}
				if p == 5 && (w/life)%4 == 1 { // a usually idle program that sometimes runs hot
					pv[0], pv[1] = 70+rng.Float64(), 90
				}
				if samples >= 0 && rng.IntN(20) == 0 {
					pv[samples] = 0
				}
				if rng.IntN(300) == 0 {
					pv[rng.IntN(len(pv))] = math.NaN()
				}
				start := strconv.Itoa(1700000000 + w/life)
				out = append(out, &schemas.FeatureVector{ID: host + "/" + strconv.Itoa(pid) + "/" + strconv.Itoa(w), Host: host,
					KeyKind: window.KindProcess, Key: "proc:" + strconv.Itoa(pid) + "@" + start, Entity: entity, Window: "5m",
					Start: end.Add(-5 * time.Minute), End: end, Names: pn, Values: pv})
			}
		}
	}
	return out
}

// goldenConfigs are the layer configurations the golden output covers: the default; a series
// cap below the keys (eviction and recycling of detectors: of dead keys at 1500, of live ones at
// 300); and a watched subset without
// seasonality or population floor but with the jump and shift signals on.
func goldenConfigs() map[string]LayerConfig {
	small := DefaultLayerConfig()
	small.MaxSeries = 1500
	tiny := DefaultLayerConfig()
	tiny.MaxSeries = 300
	sub := DefaultLayerConfig()
	sub.Features = []string{"cpu_percent", "cpu.user", "mem.used_pct", "samples", "load1"}
	sub.PopulationFloor = 0
	sub.Detector.Seasonal = false
	sub.Detector.Jump, sub.Detector.Shift = true, true
	sub.Detector.Warmup = 10
	sub.PopulationWindows = 1
	return map[string]LayerConfig{"cap300": tiny, "default": DefaultLayerConfig(), "cap1500": small, "subset": sub}
}

// TestGoldenLayerResults: the layer results (scores, reasons, abstentions) of the fixed input
// are byte-identical to those of the code before the throughput work (the sha256 of their JSON
// in testdata/golden.txt was written by that code). AMOSKYS_GOLDEN_OUT=dir writes the JSON lines
// to dir for a diff; AMOSKYS_GOLDEN_UPDATE=1 rewrites testdata/golden.txt (only for a deliberate
// change of the output).
func TestGoldenLayerResults(t *testing.T) {
	vs := goldenVectors()
	var got []string
	for _, name := range []string{"cap300", "cap1500", "default", "subset"} {
		l := NewLayer(goldenConfigs()[name])
		h := sha256.New()
		var w *bufio.Writer
		if dir := os.Getenv("AMOSKYS_GOLDEN_OUT"); dir != "" {
			f, err := os.Create(filepath.Join(dir, "temporal-"+name+".jsonl"))
			require.NoError(t, err)
			defer f.Close()
			w = bufio.NewWriter(f)
			defer w.Flush()
		}
		scored, reasons := 0, 0
		for _, v := range vs {
			r := l.Judge(v)
			b, err := json.Marshal(r)
			require.NoError(t, err)
			b = append(b, '\n')
			h.Write(b)
			if w != nil {
				w.Write(b)
			}
			if r.Score != nil {
				scored++
			}
			reasons += len(r.Reasons)
		}
		got = append(got, fmt.Sprintf("%s %d %d %d %d %s", name, len(vs), scored, reasons, l.Evicted, hex.EncodeToString(h.Sum(nil))))
	}
	path := filepath.Join("testdata", "golden.txt")
	if os.Getenv("AMOSKYS_GOLDEN_UPDATE") == "1" {
		require.NoError(t, os.WriteFile(path, []byte(strings.Join(got, "\n")+"\n"), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(want)), strings.Join(got, "\n"),
		"config, vectors, scored, reasons, evicted, sha256 of the results' JSON")
}
