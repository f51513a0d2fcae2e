// Package iforest is the Isolation Forest layer of the detect chain: it scores the window stage's
// feature vectors with a model trained by `amoskys train` (internal/iforest) and explains each
// score per feature. Layer is plain Go; plugin.go adapts it to Benthos.
package iforest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/amoskys/amoskys/internal/iforest"
	"github.com/amoskys/amoskys/processors/window"
	"github.com/amoskys/amoskys/schemas"
)

// DefaultModelPath is $AMOSKYS_MODELS_DIR/iforest.json, or ./models/iforest.json.
func DefaultModelPath() string {
	dir := os.Getenv("AMOSKYS_MODELS_DIR")
	if dir == "" {
		dir = "./models"
	}
	return filepath.Join(dir, "iforest.json")
}

// Config configures a Layer.
type Config struct {
	ModelPath   string  // model file
	TopFeatures int     // reasons per result: the features with the largest shares
	MinShare    float64 // a feature needs at least this share of the isolation to become a reason
	Raw         bool    // report s(x) itself as the score instead of the calibrated 0..1
}

// Layer scores feature vectors with the current model. The model is swapped atomically on
// reload: a vector is judged wholly by the old model or wholly by the new one.
type Layer struct {
	cfg Config
	cur atomic.Pointer[loaded]

	mu      sync.Mutex
	lastErr error // why no model is loaded, or why the last reload was refused
	// noModel is the abstention while no model is loaded (built once per load attempt, not per vector).
	noModel atomic.Pointer[string]
}

// xPool holds Judge's scratch vectors of model columns.
var xPool = sync.Pool{New: func() any { return new([]float64) }}

// loaded is a model plus the mapping from each distinct vector name list to model columns.
type loaded struct {
	m       *iforest.Model
	mapping sync.Map // strings.Join(names, "\x00") -> []int (or error)
	cached  atomic.Int32
	last    atomic.Pointer[lastMapping]
	// otherKind: key kind -> the abstention for vectors of that kind (at most maxMappings).
	otherKind sync.Map
	nOther    atomic.Int32
	// The model's evidence strings, the same in every reason.
	sha, trainedTo, threshold string
}

func newLoaded(m *iforest.Model) *loaded {
	return &loaded{m: m, sha: strings.TrimPrefix(m.Checksum, "sha256:")[:12], trainedTo: m.Training.To.Format(time.RFC3339),
		threshold: strconv.FormatFloat(m.Threshold, 'f', 4, 64)}
}

// otherKindReason is the abstention for a vector of key kind kind when the model judges another.
func (c *loaded) otherKindReason(kind string) string {
	if v, ok := c.otherKind.Load(kind); ok {
		return v.(string)
	}
	r := "model " + strconv.Quote(c.m.Name) + " judges " + c.m.KeyKind + " feature vectors, not " + kind
	if c.nOther.Add(1) <= maxMappings {
		c.otherKind.Store(kind, r)
	}
	return r
}

// maxMappings bounds the name lists remembered per model (a stream has one per key kind).
const maxMappings = 64

// ErrNoWindowFeatures says the model's features are not what the window stage produces.
var ErrNoWindowFeatures = errors.New("model features are not produced by the window stage")

// NewLayer makes a layer and tries to load its model; a missing or bad model is not an error
// here: the layer abstains, and LoadError says why.
func NewLayer(cfg Config) *Layer {
	if cfg.ModelPath == "" {
		cfg.ModelPath = DefaultModelPath()
	}
	if cfg.TopFeatures <= 0 {
		cfg.TopFeatures = 3
	}
	l := &Layer{cfg: cfg}
	_, _ = l.Reload()
	return l
}

// Model returns the model in force, or nil.
func (l *Layer) Model() *iforest.Model {
	if c := l.cur.Load(); c != nil {
		return c.m
	}
	return nil
}

// LoadError returns why the last load failed (nil after a good load).
func (l *Layer) LoadError() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastErr
}

// CheckWindowFeatures refuses a model whose key kind the window stage knows but whose features
// it does not produce (a model trained on another feature set or another build's names).
func CheckWindowFeatures(m *iforest.Model) error {
	if m.KeyKind == "" {
		return nil
	}
	names := window.FeatureNames(m.KeyKind)
	if names == nil {
		return fmt.Errorf("%w: key kind %q is not one of host, process, interface, device", ErrNoWindowFeatures, m.KeyKind)
	}
	var missing []string
	for _, f := range m.Features {
		if !slices.Contains(names, f) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s not among the %s features", ErrNoWindowFeatures, strings.Join(missing, ", "), m.KeyKind)
	}
	return nil
}

// Reload reads the model file again. A good model replaces the current one atomically; a bad one
// is refused with the reason and the current model (if any) stays in force.
func (l *Layer) Reload() (*iforest.Model, error) {
	m, err := iforest.LoadFile(l.cfg.ModelPath, iforest.Expect{})
	if err == nil {
		if err = CheckWindowFeatures(m); err != nil {
			err = fmt.Errorf("model %s: %w", l.cfg.ModelPath, err)
		}
	}
	var c *loaded
	if err == nil {
		c = newLoaded(m)
	}
	reason := "no isolation forest model loaded"
	if err != nil {
		reason += ": " + err.Error()
	}
	l.mu.Lock()
	l.lastErr = err
	l.noModel.Store(&reason)
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	l.cur.Store(c)
	return m, nil
}

// columns maps the model's features onto positions in names.
func (c *loaded) columns(names []string) ([]int, error) {
	// The vectors of a key kind carry the same names (usually the same strings, which compare by
	// pointer): the last mapping is checked first, without building the key.
	if last := c.last.Load(); last != nil && slices.Equal(last.names, names) {
		return last.cols, last.err
	}
	cols, err := c.mapColumns(names)
	c.last.Store(&lastMapping{names: slices.Clone(names), cols: cols, err: err})
	return cols, err
}

// lastMapping is the mapping columns found last, with the names it was found for.
type lastMapping struct {
	names []string
	cols  []int
	err   error
}

func (c *loaded) mapColumns(names []string) ([]int, error) {
	key := strings.Join(names, "\x00")
	if v, ok := c.mapping.Load(key); ok {
		if err, isErr := v.(error); isErr {
			return nil, err
		}
		return v.([]int), nil
	}
	cols := make([]int, len(c.m.Features))
	var missing []string
	for j, f := range c.m.Features {
		i := slices.Index(names, f)
		if i < 0 {
			missing = append(missing, f)
		}
		cols[j] = i
	}
	var v any = cols
	var err error
	if len(missing) > 0 {
		err = fmt.Errorf("feature vector lacks %s that model %q needs", strings.Join(missing, ", "), c.m.Name)
		v, cols = err, nil
	}
	if c.cached.Add(1) <= maxMappings {
		c.mapping.Store(key, v)
	}
	return cols, err
}

// Judge scores one feature vector. The result abstains (Score nil, with the reason) when no model
// is loaded, the vector is of another key kind than the model's, or it lacks model features.
func (l *Layer) Judge(fv *schemas.FeatureVector) schemas.LayerResult {
	out := schemas.LayerResult{Layer: schemas.LayerIForest, Time: fv.End, Host: fv.Host, Entity: fv.Key,
		Window: fv.Window, Source: fv.ID}
	c := l.cur.Load()
	if c == nil {
		if r := l.noModel.Load(); r != nil {
			out.Abstain = *r
		} else {
			out.Abstain = "no isolation forest model loaded"
		}
		return out
	}
	m := c.m
	if m.KeyKind != "" && fv.KeyKind != m.KeyKind {
		out.Abstain = c.otherKindReason(fv.KeyKind)
		return out
	}
	cols, err := c.columns(fv.Names)
	if err != nil {
		out.Abstain = err.Error()
		return out
	}
	xp := xPool.Get().(*[]float64)
	defer xPool.Put(xp)
	if cap(*xp) < len(cols) {
		*xp = make([]float64, len(cols))
	}
	x := (*xp)[:len(cols)]
	for j, i := range cols {
		if i >= len(fv.Values) {
			out.Abstain = fmt.Sprintf("feature vector has %d values for %d names", len(fv.Values), len(fv.Names))
			return out
		}
		v := fv.Values[i]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			out.Abstain = fmt.Sprintf("feature %s is not a finite number (%v)", m.Features[j], v)
			return out
		}
		x[j] = v
	}
	e := m.Explain(x)
	score := e.Calibrated
	if l.cfg.Raw {
		score = e.Score
	}
	out.Score = &score
	verdict := "within"
	if e.Outlier {
		verdict = "above"
	}
	var raw string // built only when there is a reason
	var text []byte
	for _, f := range e.Features {
		if len(out.Reasons) >= l.cfg.TopFeatures || f.Share < l.cfg.MinShare || f.Share == 0 {
			break
		}
		name := f.Name
		if fv.Entity != "" && fv.KeyKind != window.KindHost {
			name = fv.Entity + " " + f.Name
		}
		if out.Reasons == nil {
			raw = strconv.FormatFloat(e.Score, 'f', 4, 64)
			out.Reasons = make([]schemas.Reason, 0, min(l.cfg.TopFeatures, len(e.Features)))
		}
		value, median, q1, q3 := num(f.Value), num(f.Median), num(f.Q1), num(f.Q3)
		// "<name> = <value> against a training median of <median> (middle half <q1>..<q3>): <share>% of
		// the isolation; isolation score <s>, <within|above> the threshold <threshold>"
		text = append(text[:0], name...)
		text = append(text, " = "...)
		text = append(text, value...)
		text = append(text, " against a training median of "...)
		text = append(text, median...)
		text = append(text, " (middle half "...)
		text = append(text, q1...)
		text = append(text, ".."...)
		text = append(text, q3...)
		text = append(text, "): "...)
		text = strconv.AppendFloat(text, 100*f.Share, 'f', 0, 64)
		text = append(text, "% of the isolation; isolation score "...)
		text = strconv.AppendFloat(text, e.Score, 'f', 3, 64)
		text = append(text, ", "...)
		text = append(text, verdict...)
		text = append(text, " the threshold "...)
		text = strconv.AppendFloat(text, e.Threshold, 'f', 3, 64)
		out.Reasons = append(out.Reasons, schemas.Reason{
			ID:    "feature:" + f.Name,
			Title: f.Name + " isolates this window",
			Text:  string(text),
			Score: f.Share,
			Evidence: map[string]string{
				"feature":     f.Name,
				"value":       value,
				"median":      median,
				"q1":          q1,
				"q3":          q3,
				"share":       strconv.FormatFloat(f.Share, 'f', 4, 64),
				"raw_score":   raw,
				"threshold":   c.threshold,
				"model":       m.Name,
				"model_sha":   c.sha,
				"trained_to":  c.trainedTo,
				"key_kind":    m.KeyKind,
				"feature_set": m.FeatureSet,
			},
		})
	}
	return out
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// Watch reloads the model whenever its file changes, until ctx ends. It watches the directory
// (a model is saved by rename, which replaces the file's inode) and debounces bursts of events.
// onReload is called after each attempt with the new model or the reason it was refused.
func (l *Layer) Watch(ctx context.Context, debounce time.Duration, onReload func(*iforest.Model, error)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	dir := filepath.Dir(l.cfg.ModelPath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		w.Close()
		return fmt.Errorf("models directory %s: %w", dir, err)
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return fmt.Errorf("watching %s: %w", dir, err)
	}
	base := filepath.Base(l.cfg.ModelPath)
	go func() {
		defer w.Close()
		var timer *time.Timer
		var fire <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				if timer != nil {
					timer.Stop()
				}
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if filepath.Base(ev.Name) != base {
					continue
				}
				if ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0 {
					if _, err := os.Stat(l.cfg.ModelPath); err != nil {
						continue // removed: keep the model in force until a new file appears
					}
				}
				if timer == nil {
					timer = time.NewTimer(debounce)
				} else {
					timer.Reset(debounce)
				}
				fire = timer.C
			case <-fire:
				fire = nil
				m, err := l.Reload()
				if onReload != nil {
					onReload(m, err)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				if onReload != nil {
					onReload(nil, fmt.Errorf("watching %s: %w", dir, err))
				}
			}
		}
	}()
	return nil
}
