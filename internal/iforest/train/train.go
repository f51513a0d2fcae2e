// Package train fits an Isolation Forest model from the feature vectors stored in the warehouse
// (`amoskys train`): it reads a training window of one key kind and window length, fits, sets the
// threshold, cross-validates against labels when given, and saves a self-describing model.
package train

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/amoskys/amoskys/internal/iforest"
	"github.com/amoskys/amoskys/processors/window"
	"github.com/amoskys/amoskys/schemas"
)

// Query selects the training vectors.
type Query struct {
	From, To time.Time // window starts in [From, To)
	KeyKind  string    // host | process | interface | device
	Window   string    // window label, e.g. "1m"
	Hosts    []string  // empty: every host
}

// Source yields stored feature vectors. The warehouse implements it (WarehouseSource); tests may
// use any other store.
type Source interface {
	// Count returns how many vectors q selects (for the progress bar).
	Count(ctx context.Context, q Query) (int, error)
	// Each calls fn with every vector q selects, in (start, host, key, id) order.
	Each(ctx context.Context, q Query, fn func(*schemas.FeatureVector) error) error
}

// Progress is told how far the work has got; nil is allowed.
type Progress interface {
	Describe(string)
	ChangeMax(int)
	Add(int) error
	Finish() error
}

// Options describe a training run.
type Options struct {
	Query
	FeatureSet    string // a key kind (its window features, in contract order) or a comma list of names
	Labels        string // optional CSV: id,label (feature vector id, 1 = outlier)
	Output        string // model file to write
	Name          string // model name (default: the output's base name)
	Params        iforest.Params
	Normalise     string // none | robust
	Folds         int    // cross-validation folds when labels are given (default 5)
	TopK          int    // precision at k; 0 = number of labelled outliers
	Progress      Progress
	Now           func() time.Time // stamps the model; default time.Now
	MinRows       int              // refuse to fit on fewer vectors (default 32)
	MaxRows       int              // cap on vectors read (default 5,000,000)
	AllowConstant bool             // keep going when every feature is constant
}

// Report says what a run did.
type Report struct {
	Model     *iforest.Model
	Path      string
	Read      int               // vectors read
	Used      int               // vectors fitted on
	Skipped   map[string]int    // vectors left out, by reason
	Labelled  int               // vectors with a label
	Outliers  int               // labelled outliers among them
	CV        *iforest.CVResult // nil without labels
	Unmatched int               // labels whose id was not among the vectors
}

// ErrTooFewRows says the training window holds too little data to fit.
var ErrTooFewRows = errors.New("too few feature vectors to train on")

// Features resolves a feature set: a key kind names the window stage's features for that kind,
// anything else is a comma-separated list of feature names.
func Features(set, keyKind string) ([]string, error) {
	if set == "" {
		set = keyKind
	}
	if names := window.FeatureNames(set); names != nil {
		if set != keyKind {
			return nil, fmt.Errorf("feature set %q is another key kind than %q", set, keyKind)
		}
		return names, nil
	}
	var out []string
	for _, n := range strings.Split(set, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty feature set")
	}
	known := window.FeatureNames(keyKind)
	if known == nil {
		return nil, fmt.Errorf("key kind %q unknown (host, process, interface, device)", keyKind)
	}
	for _, n := range out {
		if !slices.Contains(known, n) {
			return nil, fmt.Errorf("feature %q is not a %s feature of the window stage (%s)", n, keyKind, strings.Join(known, ", "))
		}
	}
	return out, nil
}

// ReadLabels reads a labels CSV with a header naming the columns id and label (1/true = outlier).
func ReadLabels(r io.Reader) (map[string]bool, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("labels: reading header: %w", err)
	}
	idc, lc := -1, -1
	for i, h := range head {
		switch strings.ToLower(strings.TrimSpace(h)) {
		case "id":
			idc = i
		case "label":
			lc = i
		}
	}
	if idc < 0 || lc < 0 {
		return nil, fmt.Errorf("labels: header must name columns id and label, has %v", head)
	}
	out := map[string]bool{}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("labels line %d: %w", line, err)
		}
		switch v := strings.ToLower(strings.TrimSpace(rec[lc])); v {
		case "1", "true", "outlier", "anomaly":
			out[rec[idc]] = true
		case "0", "false", "normal", "inlier":
			out[rec[idc]] = false
		default:
			return nil, fmt.Errorf("labels line %d: label %q is not 0/1", line, rec[lc])
		}
	}
	return out, nil
}

// Run reads the training window, fits, cross-validates when labelled and saves the model.
func Run(ctx context.Context, src Source, o Options) (*Report, error) {
	if o.KeyKind == "" {
		o.KeyKind = window.KindHost
	}
	if o.Window == "" {
		o.Window = "1m"
	}
	if !o.From.Before(o.To) {
		return nil, fmt.Errorf("training window: --from %s is not before --to %s", o.From.Format(time.RFC3339), o.To.Format(time.RFC3339))
	}
	names, err := Features(o.FeatureSet, o.KeyKind)
	if err != nil {
		return nil, err
	}
	if o.FeatureSet == "" {
		o.FeatureSet = o.KeyKind
	}
	if o.Folds == 0 {
		o.Folds = 5
	}
	if o.MinRows == 0 {
		o.MinRows = 32
	}
	if o.MaxRows == 0 {
		o.MaxRows = 5_000_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := o.Params.Validate(); err != nil {
		return nil, err
	}
	var labels map[string]bool
	if o.Labels != "" {
		f, err := os.Open(o.Labels)
		if err != nil {
			return nil, fmt.Errorf("labels: %w", err)
		}
		labels, err = ReadLabels(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.Labels, err)
		}
	}
	p := o.Progress
	if p == nil {
		p = nopProgress{}
	}

	total, err := src.Count(ctx, o.Query)
	if err != nil {
		return nil, fmt.Errorf("counting feature vectors: %w", err)
	}
	if total > o.MaxRows {
		return nil, fmt.Errorf("%d feature vectors in the window, more than the cap of %d: narrow --from/--to", total, o.MaxRows)
	}
	p.ChangeMax(total)
	p.Describe("reading feature vectors")
	rep := &Report{Skipped: map[string]int{}}
	X := iforest.Matrix{Cols: len(names)}
	var ids []string
	cols := map[string][]int{} // name list -> column of each wanted feature
	row := make([]float64, len(names))
	err = src.Each(ctx, o.Query, func(fv *schemas.FeatureVector) error {
		rep.Read++
		_ = p.Add(1)
		key := strings.Join(fv.Names, "\x00")
		idx, ok := cols[key]
		if !ok {
			idx = make([]int, len(names))
			for j, n := range names {
				idx[j] = slices.Index(fv.Names, n)
			}
			if len(cols) < 1024 {
				cols[key] = idx
			}
		}
		for j, i := range idx {
			if i < 0 || i >= len(fv.Values) {
				rep.Skipped["missing feature "+names[j]]++
				return nil
			}
			v := fv.Values[i]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				rep.Skipped["non-finite "+names[j]]++
				return nil
			}
			row[j] = v
		}
		X.Data = append(X.Data, row...)
		X.Rows++
		ids = append(ids, fv.ID)
		return nil
	})
	_ = p.Finish()
	if err != nil {
		return nil, fmt.Errorf("reading feature vectors: %w", err)
	}
	rep.Used = X.Rows
	if X.Rows < o.MinRows {
		return nil, fmt.Errorf("%w: %d usable of %d read for key kind %s, window %s, %s..%s (need %d; skipped: %v)",
			ErrTooFewRows, X.Rows, rep.Read, o.KeyKind, o.Window, o.From.Format(time.RFC3339), o.To.Format(time.RFC3339), o.MinRows, rep.Skipped)
	}

	extra := map[string]float64{}
	if labels != nil {
		y := make([]bool, X.Rows)
		matched := map[string]bool{}
		for i, id := range ids {
			if l, ok := labels[id]; ok {
				y[i] = l
				matched[id] = true
				rep.Labelled++
				if l {
					rep.Outliers++
				}
			}
		}
		rep.Unmatched = len(labels) - len(matched)
		if rep.Outliers == 0 || rep.Outliers == X.Rows {
			return nil, fmt.Errorf("labels: %d of %d vectors labelled outlier: cross-validation needs both classes", rep.Outliers, X.Rows)
		}
		cv, err := iforest.CrossValidate(X, y, o.Params, o.Folds, o.TopK)
		if err != nil {
			return nil, fmt.Errorf("cross-validation: %w", err)
		}
		rep.CV = &cv
		extra["cv_roc_auc"] = cv.ROCAUC
		extra["cv_mean_fold_roc_auc"] = cv.MeanFoldAUC
		extra["cv_precision_at_k"] = cv.PrecisionAtK
		extra["cv_k"] = float64(cv.K)
		extra["cv_folds"] = float64(cv.Folds)
		extra["labelled_outliers"] = float64(rep.Outliers)
	}

	name := o.Name
	if name == "" {
		name = strings.TrimSuffix(baseName(o.Output), ".json")
	}
	m, err := iforest.Train(names, X, iforest.TrainOptions{Params: o.Params, Normalise: o.Normalise, Name: name,
		KeyKind: o.KeyKind, FeatureSet: o.FeatureSet, From: o.From, To: o.To, Created: o.Now(),
		Source: fmt.Sprintf("warehouse features, key_kind=%s, window=%s", o.KeyKind, o.Window), ExtraMetrics: extra})
	if err != nil {
		return nil, fmt.Errorf("fitting: %w", err)
	}
	rep.Model = m
	if o.Output != "" {
		if err := m.Save(o.Output); err != nil {
			return nil, err
		}
		rep.Path = o.Output
	}
	return rep, nil
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

type nopProgress struct{}

func (nopProgress) Describe(string) {}
func (nopProgress) ChangeMax(int)   {}
func (nopProgress) Add(int) error   { return nil }
func (nopProgress) Finish() error   { return nil }

// Print writes a human summary of a report.
func (r *Report) Print(w io.Writer) {
	m := r.Model
	fmt.Fprintf(w, "model %q: %s feature vectors, %d features, %d trees × ψ=%d, threshold %.6f (contamination %v)\n",
		m.Name, m.KeyKind, len(m.Features), len(m.Trees), m.SampleSize, m.Threshold, m.Contamination)
	fmt.Fprintf(w, "trained on %d of %d vectors read, %s .. %s, data sha256 %s\n", r.Used, r.Read,
		m.Training.From.Format(time.RFC3339), m.Training.To.Format(time.RFC3339), m.Training.DataSHA256[:16])
	for k, n := range r.Skipped {
		fmt.Fprintf(w, "  skipped %d: %s\n", n, k)
	}
	if r.CV != nil {
		fmt.Fprintf(w, "%d-fold cross-validation over %d labelled vectors (%d outliers): ROC AUC %.4f (mean per fold %.4f), precision at %d %.4f\n",
			r.CV.Folds, r.Labelled, r.Outliers, r.CV.ROCAUC, r.CV.MeanFoldAUC, r.CV.K, r.CV.PrecisionAtK)
		if r.Unmatched > 0 {
			fmt.Fprintf(w, "  %d labels named vectors not in the training window\n", r.Unmatched)
		}
	}
	if r.Path != "" {
		fmt.Fprintf(w, "saved %s\n", r.Path)
	}
}

// Querier is the part of the warehouse the trainer needs (warehouse.Warehouse satisfies it).
type Querier interface {
	Query(ctx context.Context, query, format string) ([]byte, error)
}

// WarehouseSource reads the features table (clickhouse/migrations/0002_detection.sql).
type WarehouseSource struct {
	W        Querier
	PageSize int // rows per query (default 50,000)
}

func chTime(t time.Time) string {
	return "toDateTime64('" + t.UTC().Format("2006-01-02 15:04:05.999999") + "', 6, 'UTC')"
}

func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func (s WarehouseSource) where(q Query) string {
	w := []string{
		"start >= " + chTime(q.From), "start < " + chTime(q.To),
		"key_kind = " + quote(q.KeyKind), "window = " + quote(q.Window),
	}
	if len(q.Hosts) > 0 {
		hs := make([]string, len(q.Hosts))
		for i, h := range q.Hosts {
			hs[i] = quote(h)
		}
		w = append(w, "host IN ("+strings.Join(hs, ", ")+")")
	}
	return strings.Join(w, " AND ")
}

// Count implements Source.
func (s WarehouseSource) Count(ctx context.Context, q Query) (int, error) {
	out, err := s.W.Query(ctx, "SELECT count() AS n FROM features FINAL WHERE "+s.where(q), "JSONEachRow")
	if err != nil {
		if m := err.Error(); strings.Contains(m, "UNKNOWN_TABLE") || strings.Contains(m, "exist") {
			return 0, fmt.Errorf("%w (the warehouse has no features table yet: run `amoskys migrate`, or `amoskys run` to collect)", err)
		}
		return 0, err
	}
	var r struct {
		N json.Number `json:"n"`
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return 0, nil
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
		return 0, fmt.Errorf("decoding count: %w", err)
	}
	n, err := r.N.Int64()
	return int(n), err
}

type featuresRow struct {
	ID      string    `json:"id"`
	Host    string    `json:"host"`
	KeyKind string    `json:"key_kind"`
	Key     string    `json:"key"`
	Entity  string    `json:"entity"`
	Window  string    `json:"window"`
	Start   string    `json:"start"`
	End     string    `json:"end"`
	Names   []string  `json:"names"`
	Values  []float64 `json:"values"`
}

func parseCHTime(s string) (time.Time, error) {
	return time.ParseInLocation("2006-01-02 15:04:05.999999999", s, time.UTC)
}

// Each implements Source, paging through the table in primary-key order.
func (s WarehouseSource) Each(ctx context.Context, q Query, fn func(*schemas.FeatureVector) error) error {
	page := s.PageSize
	if page <= 0 {
		page = 50000
	}
	for off := 0; ; off += page {
		query := fmt.Sprintf("SELECT id, host, key_kind, key, entity, window, start, end, names, values FROM features FINAL WHERE %s ORDER BY start, host, key, id LIMIT %d OFFSET %d",
			s.where(q), page, off)
		out, err := s.W.Query(ctx, query, "JSONEachRow")
		if err != nil {
			return err
		}
		n := 0
		dec := json.NewDecoder(bytes.NewReader(out))
		for {
			var r featuresRow
			if err := dec.Decode(&r); err == io.EOF {
				break
			} else if err != nil {
				return fmt.Errorf("decoding features row: %w", err)
			}
			n++
			st, err := parseCHTime(r.Start)
			if err != nil {
				return fmt.Errorf("features row %s: start %q: %w", r.ID, r.Start, err)
			}
			en, err := parseCHTime(r.End)
			if err != nil {
				return fmt.Errorf("features row %s: end %q: %w", r.ID, r.End, err)
			}
			fv := &schemas.FeatureVector{SchemaVersion: schemas.FeaturesVersion, ID: r.ID, Host: r.Host, KeyKind: r.KeyKind,
				Key: r.Key, Entity: r.Entity, Window: r.Window, Start: st, End: en, Names: r.Names, Values: r.Values}
			if err := fn(fv); err != nil {
				return err
			}
		}
		if n < page {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// ParseTime reads --from/--to: RFC 3339, a date, or a duration before now ("24h" = 24 hours ago).
func ParseTime(s string, now time.Time) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	if s == "now" {
		return now.UTC(), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-11-26T10:00:00Z), a date (2026-11-26), now, or a duration ago (24h)", s)
}
