// Package nab reads the Numenta Anomaly Benchmark corpus (data files, label windows, cost
// profiles, detector result files) and scores anomaly scores with NAB's rules, as NAB's own
// sweeper and optimiser do: probation, scaled sigmoid, earliest detection per window, false
// positives weighted by the distance to the previous window, and one threshold per detector and
// profile optimised over the whole corpus.
package nab

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Series is one NAB file: timestamps (kept verbatim for output) and values, plus the anomaly
// scores when it was read from a results file.
type Series struct {
	Name       string // "<family>/<file>.csv", the key used by the label files
	Raw        []string
	Timestamps []time.Time
	Values     []float64
	Scores     []float64
}

// Len is the number of rows.
func (s *Series) Len() int { return len(s.Values) }

// Window is one labelled anomaly window, by timestamp.
type Window struct{ Start, End time.Time }

// CostMatrix holds one profile's weights.
type CostMatrix struct {
	TP float64 `json:"tpWeight"`
	FP float64 `json:"fpWeight"`
	FN float64 `json:"fnWeight"`
	TN float64 `json:"tnWeight"`
}

// Profile names in NAB's order.
var ProfileNames = []string{"standard", "reward_low_FP_rate", "reward_low_FN_rate"}

// DefaultProfiles are NAB's three cost profiles, used when no profiles file is given.
var DefaultProfiles = map[string]CostMatrix{
	"standard":           {TP: 1, FP: 0.11, FN: 1, TN: 1},
	"reward_low_FP_rate": {TP: 1, FP: 0.22, FN: 1, TN: 1},
	"reward_low_FN_rate": {TP: 1, FP: 0.11, FN: 2, TN: 1},
}

var timeLayouts = []string{"2006-01-02 15:04:05.999999", "2006-01-02 15:04:05", time.RFC3339Nano}

// ParseTime parses a NAB timestamp ("2014-04-01 00:00:00", optionally with fractional seconds).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad timestamp %q", s)
}

// ReadSeries reads a NAB csv: a header naming timestamp and value columns, and anomaly_score
// when present. Rows must be in time order as in NAB.
func ReadSeries(r io.Reader, name string) (*Series, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: reading header: %w", name, err)
	}
	ti, vi, si := -1, -1, -1
	for i, h := range head {
		switch strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")) {
		case "timestamp":
			ti = i
		case "value":
			vi = i
		case "anomaly_score":
			si = i
		}
	}
	if ti < 0 || vi < 0 {
		return nil, fmt.Errorf("%s: header %v lacks timestamp or value", name, head)
	}
	s := &Series{Name: name}
	line := 1
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line++
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if len(rec) <= ti || len(rec) <= vi || (si >= 0 && len(rec) <= si) {
			return nil, fmt.Errorf("%s:%d: short row", name, line)
		}
		t, err := ParseTime(rec[ti])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[vi]), 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: bad value: %w", name, line, err)
		}
		s.Raw = append(s.Raw, rec[ti])
		s.Timestamps = append(s.Timestamps, t)
		s.Values = append(s.Values, v)
		if si >= 0 {
			sc, err := strconv.ParseFloat(strings.TrimSpace(rec[si]), 64)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: bad anomaly_score: %w", name, line, err)
			}
			s.Scores = append(s.Scores, sc)
		}
	}
	return s, nil
}

// ReadSeriesFile reads one csv file; name is the corpus key ("family/file.csv").
func ReadSeriesFile(path, name string) (*Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadSeries(f, name)
}

// ListCorpus returns the corpus keys "<family>/<file>.csv" of every csv one directory below dir,
// sorted. It reads whatever families exist.
func ListCorpus(dir string) ([]string, error) {
	fams, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading corpus %q: %w", dir, err)
	}
	var out []string
	for _, fam := range fams {
		if st, err := os.Stat(filepath.Join(dir, fam.Name())); err != nil || !st.IsDir() {
			continue // follows symlinks: a corpus may be assembled from links to families
		}
		files, err := os.ReadDir(filepath.Join(dir, fam.Name()))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if !f.IsDir() && strings.HasSuffix(f.Name(), ".csv") {
				out = append(out, fam.Name()+"/"+f.Name())
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// LoadWindows reads combined_windows.json: corpus key → list of [start, end] timestamps.
func LoadWindows(path string) (map[string][]Window, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw map[string][][]string
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("decoding windows %q: %w", path, err)
	}
	out := make(map[string][]Window, len(raw))
	for k, ws := range raw {
		list := make([]Window, 0, len(ws))
		for _, w := range ws {
			if len(w) != 2 {
				return nil, fmt.Errorf("%s: %s: window %v is not [start, end]", path, k, w)
			}
			a, err := ParseTime(w[0])
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, k, err)
			}
			b, err := ParseTime(w[1])
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, k, err)
			}
			list = append(list, Window{Start: a, End: b})
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Start.Before(list[j].Start) })
		out[k] = list
	}
	return out, nil
}

// LoadProfiles reads NAB's config/profiles.json.
func LoadProfiles(path string) (map[string]CostMatrix, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw map[string]struct {
		CostMatrix CostMatrix `json:"CostMatrix"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("decoding profiles %q: %w", path, err)
	}
	out := make(map[string]CostMatrix, len(raw))
	for k, v := range raw {
		out[k] = v.CostMatrix
	}
	return out, nil
}
