package iforest

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// Labelled is a labelled data set: X and, per row, whether it is an outlier.
type Labelled struct {
	Names  []string
	X      Matrix
	Labels []bool
}

// ReadLabelledCSV reads a CSV with header x0..x{d-1},label (label 1 = outlier, 0 = inlier).
func ReadLabelledCSV(path string) (*Labelled, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, err := ParseLabelledCSV(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// ParseLabelledCSV parses the labelled CSV format from r.
func ParseLabelledCSV(r io.Reader) (*Labelled, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	li := -1
	var names []string
	var cols []int
	for i, h := range head {
		h = strings.TrimSpace(h)
		if strings.EqualFold(h, "label") {
			li = i
			continue
		}
		names = append(names, h)
		cols = append(cols, i)
	}
	if li < 0 {
		return nil, fmt.Errorf("header has no label column")
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("header has no feature columns")
	}
	d := &Labelled{Names: names, X: Matrix{Cols: len(cols)}}
	line := 1
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line++
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		for _, c := range cols {
			v, err := strconv.ParseFloat(strings.TrimSpace(rec[c]), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("line %d column %q: not a finite number: %q", line, head[c], rec[c])
			}
			d.X.Data = append(d.X.Data, v)
		}
		l, err := strconv.ParseFloat(strings.TrimSpace(rec[li]), 64)
		if err != nil || (l != 0 && l != 1) {
			return nil, fmt.Errorf("line %d: label must be 0 or 1, got %q", line, rec[li])
		}
		d.Labels = append(d.Labels, l == 1)
		d.X.Rows++
	}
	if d.X.Rows == 0 {
		return nil, fmt.Errorf("no data rows")
	}
	return d, nil
}
