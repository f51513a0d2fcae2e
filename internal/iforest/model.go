package iforest

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// The model file format this build writes and reads.
const (
	FormatName    = "amoskys-iforest"
	FormatVersion = 1
)

// Errors a model load reports; each comes wrapped with the detail of what is wrong.
var (
	ErrCorrupt  = errors.New("model file is corrupt")
	ErrNotModel = errors.New("file is not an amoskys isolation forest model")
	ErrVersion  = errors.New("unsupported model format version")
	ErrChecksum = errors.New("model checksum mismatch")
	ErrInvalid  = errors.New("model is inconsistent")
	ErrFeatures = errors.New("model features do not match")
	ErrKeyKind  = errors.New("model key kind does not match")
)

// Normalisation is applied to raw feature values before the forest sees them.
type Normalisation struct {
	Method string    `json:"method"`           // none | robust ((x - median) / IQR)
	Center []float64 `json:"center,omitempty"` // per feature, robust only
	Scale  []float64 `json:"scale,omitempty"`  // per feature, robust only
}

// FeatureStats summarise each training feature in raw units (for explanations).
type FeatureStats struct {
	Median []float64 `json:"median"`
	Q1     []float64 `json:"q1"`
	Q3     []float64 `json:"q3"`
}

// Training records where a model came from.
type Training struct {
	From       time.Time          `json:"from"`        // training window start (event time)
	To         time.Time          `json:"to"`          // training window end
	Rows       int                `json:"rows"`        // rows fitted on
	DataSHA256 string             `json:"data_sha256"` // hash of the feature names and the raw training matrix
	Source     string             `json:"source,omitempty"`
	Metrics    map[string]float64 `json:"metrics,omitempty"` // score quantiles, cross-validated AUC, ...
}

// TreeFile is one tree as stored: local node indices, parents before children; a leaf has
// feature -1, left and right -1.
type TreeFile struct {
	Feature   []int32   `json:"feature"`
	Threshold []float64 `json:"threshold"`
	Left      []int32   `json:"left"`
	Right     []int32   `json:"right"`
	Size      []int32   `json:"size"`
}

// Model is a forest with everything needed to use it safely: the features it expects, in order,
// how to normalise them, where it was trained and what it decided.
type Model struct {
	Format        string        `json:"format"`
	FormatVersion int           `json:"format_version"`
	Checksum      string        `json:"checksum"` // sha256 of the model encoded with an empty checksum
	Name          string        `json:"name,omitempty"`
	Created       time.Time     `json:"created"`
	KeyKind       string        `json:"key_kind,omitempty"`    // key kind of the feature vectors judged
	FeatureSet    string        `json:"feature_set,omitempty"` // name of the feature set
	Features      []string      `json:"features"`
	Normalisation Normalisation `json:"normalisation"`
	Stats         FeatureStats  `json:"feature_stats"`
	Training      Training      `json:"training"`
	Params        Params        `json:"params"`
	SampleSize    int           `json:"sample_size"`
	Threshold     float64       `json:"threshold"`     // s(x) >= Threshold is an outlier
	ScoreMedian   float64       `json:"score_median"`  // median training score (calibration anchor)
	Contamination float64       `json:"contamination"` // as Params.Contamination, repeated for readers
	Trees         []TreeFile    `json:"trees"`

	forest *Forest
}

// TrainOptions describe a training run.
type TrainOptions struct {
	Params       Params
	Normalise    string // none (default) | robust
	Name         string
	KeyKind      string
	FeatureSet   string
	From, To     time.Time
	Source       string
	Created      time.Time // stamped into the model; zero = now
	ExtraMetrics map[string]float64
}

// Train fits a model on raw rows X whose columns are names.
func Train(names []string, X Matrix, o TrainOptions) (*Model, error) {
	if len(names) != X.Cols {
		return nil, fmt.Errorf("%d feature names for %d columns", len(names), X.Cols)
	}
	if err := checkNames(names); err != nil {
		return nil, err
	}
	if X.Rows == 0 {
		return nil, ErrNoData
	}
	m := &Model{Format: FormatName, FormatVersion: FormatVersion, Name: o.Name, KeyKind: o.KeyKind,
		FeatureSet: o.FeatureSet, Features: slices.Clone(names), Created: o.Created.UTC(),
		Params: o.Params, Contamination: o.Params.Contamination}
	if m.Created.IsZero() {
		m.Created = time.Now().UTC().Truncate(time.Second)
	}
	m.Stats = statsOf(X)
	m.Normalisation = Normalisation{Method: "none"}
	fitX := X
	switch o.Normalise {
	case "", "none":
	case "robust":
		m.Normalisation = Normalisation{Method: "robust", Center: slices.Clone(m.Stats.Median), Scale: make([]float64, X.Cols)}
		for j := range X.Cols {
			s := m.Stats.Q3[j] - m.Stats.Q1[j]
			if !(s > 0) {
				s = 1
			}
			m.Normalisation.Scale[j] = s
		}
		fitX = Matrix{Rows: X.Rows, Cols: X.Cols, Data: make([]float64, len(X.Data))}
		for i := range X.Rows {
			m.normaliseInto(fitX.Row(i), X.Row(i))
		}
	default:
		return nil, fmt.Errorf("normalisation must be none or robust, got %q", o.Normalise)
	}
	f, err := Fit(fitX, o.Params)
	if err != nil {
		return nil, err
	}
	m.forest = f
	m.SampleSize = f.SampleSize
	m.Threshold = f.Threshold
	scores := f.ScoreAll(fitX, o.Params.Workers)
	sort.Float64s(scores)
	m.ScoreMedian = Quantile(scores, 0.5)
	over := 0
	for _, s := range scores {
		if s >= m.Threshold {
			over++
		}
	}
	m.Training = Training{From: o.From.UTC(), To: o.To.UTC(), Rows: X.Rows, DataSHA256: DataHash(names, X),
		Source: o.Source, Metrics: map[string]float64{
			"score_p50":           m.ScoreMedian,
			"score_p90":           Quantile(scores, 0.9),
			"score_p99":           Quantile(scores, 0.99),
			"score_max":           scores[len(scores)-1],
			"training_over_share": float64(over) / float64(len(scores)),
			"nodes":               float64(f.Nodes()),
		}}
	for k, v := range o.ExtraMetrics {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			m.Training.Metrics[k] = v
		}
	}
	m.Trees = treesOf(f)
	return m, nil
}

func checkNames(names []string) error {
	if len(names) == 0 {
		return errors.New("no feature names")
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" {
			return errors.New("empty feature name")
		}
		if seen[n] {
			return fmt.Errorf("feature %q named twice", n)
		}
		seen[n] = true
	}
	return nil
}

func statsOf(X Matrix) FeatureStats {
	st := FeatureStats{Median: make([]float64, X.Cols), Q1: make([]float64, X.Cols), Q3: make([]float64, X.Cols)}
	col := make([]float64, X.Rows)
	for j := range X.Cols {
		for i := range X.Rows {
			col[i] = X.Data[i*X.Cols+j]
		}
		sort.Float64s(col)
		st.Median[j] = Quantile(col, 0.5)
		st.Q1[j] = Quantile(col, 0.25)
		st.Q3[j] = Quantile(col, 0.75)
	}
	return st
}

// DataHash is the sha256 of the feature names and the raw matrix (little-endian float64 bits).
func DataHash(names []string, X Matrix) string {
	h := sha256.New()
	for _, n := range names {
		h.Write([]byte(n))
		h.Write([]byte{0})
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(X.Rows))
	h.Write(b[:])
	for _, v := range X.Data {
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func treesOf(f *Forest) []TreeFile {
	out := make([]TreeFile, len(f.Roots))
	for t, root := range f.Roots {
		end := int32(len(f.Feature))
		if t+1 < len(f.Roots) {
			end = f.Roots[t+1]
		}
		n := int(end - root)
		tf := TreeFile{Feature: make([]int32, n), Threshold: make([]float64, n), Left: make([]int32, n),
			Right: make([]int32, n), Size: make([]int32, n)}
		for i := range n {
			g := int(root) + i
			tf.Feature[i] = f.Feature[g]
			tf.Size[i] = f.Size[g]
			if f.Feature[g] < 0 {
				tf.Left[i], tf.Right[i] = -1, -1
				continue
			}
			tf.Threshold[i] = f.Thresh[g]
			tf.Left[i] = f.Left[g] - root
			tf.Right[i] = f.Right[g] - root
		}
		out[t] = tf
	}
	return out
}

// Forest returns the fitted forest.
func (m *Model) Forest() *Forest { return m.forest }

// checksum computes the model's checksum: sha256 of its JSON with an empty checksum field.
func (m *Model) checksum() (string, error) {
	c := *m
	c.Checksum = ""
	b, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Marshal encodes the model with its checksum set.
func (m *Model) Marshal() ([]byte, error) {
	sum, err := m.checksum()
	if err != nil {
		return nil, fmt.Errorf("encoding model: %w", err)
	}
	m.Checksum = sum
	return json.Marshal(m)
}

// Save writes the model to path atomically (temporary file in the same directory, then rename),
// so a watcher never reads half a model.
func (m *Model) Save(path string) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".iforest-*.tmp")
	if err != nil {
		return fmt.Errorf("saving model: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("saving model: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving model: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("saving model: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("saving model: %w", err)
	}
	return nil
}

// Expect is what a user of a model requires of it; zero fields are not checked.
type Expect struct {
	Features []string
	KeyKind  string
}

// MaxModelBytes bounds the size of a model file read.
const MaxModelBytes = 256 << 20

// LoadFile reads and checks a model file.
func LoadFile(path string, want Expect) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening model: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxModelBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading model %s: %w", path, err)
	}
	if len(b) > MaxModelBytes {
		return nil, fmt.Errorf("model %s: %w: larger than %d bytes", path, ErrCorrupt, MaxModelBytes)
	}
	m, err := Load(b, want)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	return m, nil
}

// Load decodes and checks a model: format, version, checksum, the consistency of every tree,
// and what want expects.
func Load(b []byte, want Expect) (*Model, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty file", ErrCorrupt)
	}
	// The header first, so a wrong kind of file or a newer version says so rather than failing
	// on a field it does not know.
	var head struct {
		Format        string `json:"format"`
		FormatVersion int    `json:"format_version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) && se.Offset >= int64(len(b)) || strings.Contains(err.Error(), "unexpected end") {
			return nil, fmt.Errorf("%w: truncated after %d bytes", ErrCorrupt, len(b))
		}
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if head.Format != FormatName {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrNotModel, head.Format, FormatName)
	}
	if head.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%w: file has version %d, this build reads version %d (retrain with `amoskys train`)",
			ErrVersion, head.FormatVersion, FormatVersion)
	}
	m := new(Model)
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if m.Checksum == "" {
		return nil, fmt.Errorf("%w: no checksum in file", ErrChecksum)
	}
	sum, err := m.checksum()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if sum != m.Checksum {
		return nil, fmt.Errorf("%w: file says %s, content hashes to %s (file edited or damaged)", ErrChecksum, m.Checksum, sum)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := m.Check(want); err != nil {
		return nil, err
	}
	m.buildForest()
	return m, nil
}

// Check compares the model with what a user expects.
func (m *Model) Check(want Expect) error {
	if want.KeyKind != "" && m.KeyKind != "" && want.KeyKind != m.KeyKind {
		return fmt.Errorf("%w: model judges %q feature vectors, want %q", ErrKeyKind, m.KeyKind, want.KeyKind)
	}
	if want.Features != nil && !slices.Equal(want.Features, m.Features) {
		return fmt.Errorf("%w: %s", ErrFeatures, FeatureDiff(m.Features, want.Features))
	}
	return nil
}

// FeatureDiff describes how the model's features differ from the wanted ones.
func FeatureDiff(model, want []string) string {
	in := func(s []string, v string) bool { return slices.Contains(s, v) }
	var missing, extra []string
	for _, f := range model {
		if !in(want, f) {
			missing = append(missing, f)
		}
	}
	for _, f := range want {
		if !in(model, f) {
			extra = append(extra, f)
		}
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, fmt.Sprintf("model needs %s that the input lacks", strings.Join(missing, ", ")))
	}
	if len(extra) > 0 {
		parts = append(parts, fmt.Sprintf("input has %s that the model does not know", strings.Join(extra, ", ")))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("same features in another order: model %v, input %v", model, want)
	}
	return strings.Join(parts, "; ")
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func (m *Model) validate() error {
	d := len(m.Features)
	if err := checkNames(m.Features); err != nil {
		return err
	}
	for name, s := range map[string][]float64{"median": m.Stats.Median, "q1": m.Stats.Q1, "q3": m.Stats.Q3} {
		if len(s) != d {
			return fmt.Errorf("feature_stats.%s has %d values for %d features", name, len(s), d)
		}
	}
	switch m.Normalisation.Method {
	case "none":
	case "robust":
		if len(m.Normalisation.Center) != d || len(m.Normalisation.Scale) != d {
			return fmt.Errorf("robust normalisation needs %d centers and scales, has %d and %d",
				d, len(m.Normalisation.Center), len(m.Normalisation.Scale))
		}
		for j, s := range m.Normalisation.Scale {
			if !(s > 0) || !finite(s) || !finite(m.Normalisation.Center[j]) {
				return fmt.Errorf("normalisation of %q is not usable (center %v, scale %v)", m.Features[j], m.Normalisation.Center[j], s)
			}
		}
	default:
		return fmt.Errorf("normalisation method %q unknown (none, robust)", m.Normalisation.Method)
	}
	if m.SampleSize < 1 || m.SampleSize > 1<<24 {
		return fmt.Errorf("sample_size %d out of range", m.SampleSize)
	}
	if !(m.Threshold > 0 && m.Threshold <= 1) {
		return fmt.Errorf("threshold %v outside (0,1]", m.Threshold)
	}
	if !(m.ScoreMedian > 0 && m.ScoreMedian <= 1) {
		return fmt.Errorf("score_median %v outside (0,1]", m.ScoreMedian)
	}
	if len(m.Trees) == 0 {
		return errors.New("no trees")
	}
	limit := 0
	if m.SampleSize > 1 {
		limit = bits.Len(uint(m.SampleSize - 1))
	}
	maxNodes := 2*m.SampleSize - 1
	for t, tr := range m.Trees {
		n := len(tr.Feature)
		if n == 0 || n > maxNodes {
			return fmt.Errorf("tree %d has %d nodes (1..%d allowed)", t, n, maxNodes)
		}
		if len(tr.Threshold) != n || len(tr.Left) != n || len(tr.Right) != n || len(tr.Size) != n {
			return fmt.Errorf("tree %d: node arrays differ in length", t)
		}
		if int(tr.Size[0]) != m.SampleSize {
			return fmt.Errorf("tree %d: root holds %d rows, sample_size is %d", t, tr.Size[0], m.SampleSize)
		}
		parent := make([]int32, n)
		depth := make([]int, n)
		for i := range parent {
			parent[i] = -1
		}
		for i := range n {
			if i > 0 && parent[i] < 0 {
				return fmt.Errorf("tree %d: node %d has no parent", t, i)
			}
			if tr.Size[i] < 1 {
				return fmt.Errorf("tree %d: node %d holds %d rows", t, i, tr.Size[i])
			}
			f := tr.Feature[i]
			if f < 0 {
				if f != -1 || tr.Left[i] != -1 || tr.Right[i] != -1 {
					return fmt.Errorf("tree %d: leaf %d malformed", t, i)
				}
				continue
			}
			if int(f) >= d {
				return fmt.Errorf("tree %d: node %d splits on feature %d of %d", t, i, f, d)
			}
			if !finite(tr.Threshold[i]) {
				return fmt.Errorf("tree %d: node %d threshold not finite", t, i)
			}
			if depth[i] >= limit {
				return fmt.Errorf("tree %d: node %d splits below the height limit %d", t, i, limit)
			}
			for _, c := range []int32{tr.Left[i], tr.Right[i]} {
				if int(c) <= i || int(c) >= n {
					return fmt.Errorf("tree %d: node %d has child %d outside (%d,%d)", t, i, c, i, n)
				}
				if parent[c] >= 0 {
					return fmt.Errorf("tree %d: node %d has two parents", t, c)
				}
				parent[c] = int32(i)
				depth[c] = depth[i] + 1
			}
			if tr.Size[tr.Left[i]]+tr.Size[tr.Right[i]] != tr.Size[i] {
				return fmt.Errorf("tree %d: node %d sizes do not add up", t, i)
			}
		}
	}
	return nil
}

func (m *Model) buildForest() {
	f := &Forest{Params: m.Params, NumFeat: len(m.Features), SampleSize: m.SampleSize, Threshold: m.Threshold}
	ts := make([]tree, len(m.Trees))
	for i, tr := range m.Trees {
		ts[i] = tree{feature: tr.Feature, thresh: slices.Clone(tr.Threshold), left: tr.Left, right: tr.Right, size: tr.Size}
	}
	f.assemble(ts)
	m.forest = f
}

func (m *Model) normaliseInto(dst, x []float64) {
	for j, v := range x {
		dst[j] = (v - m.Normalisation.Center[j]) / m.Normalisation.Scale[j]
	}
}

// prepare returns x as the forest sees it.
func (m *Model) prepare(x []float64) []float64 {
	if m.Normalisation.Method != "robust" {
		return x
	}
	y := make([]float64, len(x))
	m.normaliseInto(y, x)
	return y
}

// Score returns s(x) for raw feature values in the model's feature order.
func (m *Model) Score(x []float64) float64 { return m.forest.Score(m.prepare(x)) }

// Calibrate maps a raw score onto the layer's 0..1: 0 at or below the median training score,
// 0.5 at the threshold, 1 at s = 1, linear in between. A normal row then reads near 0 rather than
// the ~0.4 that raw isolation scores give every inlier.
func (m *Model) Calibrate(s float64) float64 {
	med, thr := m.ScoreMedian, m.Threshold
	switch {
	case s <= med:
		return 0
	case s < thr:
		return 0.5 * (s - med) / (thr - med)
	case thr >= 1:
		return 1
	default:
		return math.Min(1, 0.5+0.5*(s-thr)/(1-thr))
	}
}

// FeatureShare is one feature's part in an explanation.
type FeatureShare struct {
	Name   string  `json:"name"`
	Index  int     `json:"index"`
	Share  float64 `json:"share"` // 0..1; the shares of one explanation sum to 1
	Value  float64 `json:"value"`
	Median float64 `json:"median"` // training median
	Q1     float64 `json:"q1"`
	Q3     float64 `json:"q3"`
}

// Explanation is a score with each feature's share in isolating the row, largest first.
type Explanation struct {
	Score      float64        `json:"score"`      // s(x)
	Calibrated float64        `json:"calibrated"` // Calibrate(s(x))
	Outlier    bool           `json:"outlier"`    // s(x) >= threshold
	Threshold  float64        `json:"threshold"`
	Features   []FeatureShare `json:"features"`
}

// Explain scores x and says which features isolated it.
func (m *Model) Explain(x []float64) Explanation {
	y := m.prepare(x)
	pl, sh := m.forest.PathShares(y)
	s := m.forest.scoreOf(pl)
	e := Explanation{Score: s, Calibrated: m.Calibrate(s), Outlier: s >= m.Threshold, Threshold: m.Threshold,
		Features: make([]FeatureShare, len(sh))}
	// Largest share first, ties in feature order: the indices are sorted, not the 80-byte entries.
	var buf [64]int32
	order := buf[:0]
	for j := range sh {
		order = append(order, int32(j))
	}
	slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(sh[b], sh[a]) })
	for k, j := range order {
		e.Features[k] = FeatureShare{Name: m.Features[j], Index: int(j), Share: sh[j], Value: x[j],
			Median: m.Stats.Median[j], Q1: m.Stats.Q1[j], Q3: m.Stats.Q3[j]}
	}
	return e
}
