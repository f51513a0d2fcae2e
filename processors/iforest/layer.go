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
}

// loaded is a model plus the mapping from each distinct vector name list to model columns.
type loaded struct {
	m       *iforest.Model
	mapping sync.Map // strings.Join(names, "\x00") -> []int (or error)
	cached  atomic.Int32
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
	l.mu.Lock()
	l.lastErr = err
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	l.cur.Store(&loaded{m: m})
	return m, nil
}

// columns maps the model's features onto positions in names.
func (c *loaded) columns(names []string) ([]int, error) {
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
		out.Abstain = "no isolation forest model loaded"
		if err := l.LoadError(); err != nil {
			out.Abstain += ": " + err.Error()
		}
		return out
	}
	m := c.m
	if m.KeyKind != "" && fv.KeyKind != m.KeyKind {
		out.Abstain = fmt.Sprintf("model %q judges %s feature vectors, not %s", m.Name, m.KeyKind, fv.KeyKind)
		return out
	}
	cols, err := c.columns(fv.Names)
	if err != nil {
		out.Abstain = err.Error()
		return out
	}
	x := make([]float64, len(cols))
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
	for _, f := range e.Features {
		if len(out.Reasons) >= l.cfg.TopFeatures || f.Share < l.cfg.MinShare || f.Share == 0 {
			break
		}
		name := f.Name
		if fv.Entity != "" && fv.KeyKind != window.KindHost {
			name = fv.Entity + " " + f.Name
		}
		out.Reasons = append(out.Reasons, schemas.Reason{
			ID:    "feature:" + f.Name,
			Title: f.Name + " isolates this window",
			Text: fmt.Sprintf("%s = %s against a training median of %s (middle half %s..%s): %.0f%% of the isolation; isolation score %.3f, %s the threshold %.3f",
				name, num(f.Value), num(f.Median), num(f.Q1), num(f.Q3), 100*f.Share, e.Score, verdict, e.Threshold),
			Score: f.Share,
			Evidence: map[string]string{
				"feature":     f.Name,
				"value":       num(f.Value),
				"median":      num(f.Median),
				"q1":          num(f.Q1),
				"q3":          num(f.Q3),
				"share":       strconv.FormatFloat(f.Share, 'f', 4, 64),
				"raw_score":   strconv.FormatFloat(e.Score, 'f', 4, 64),
				"threshold":   strconv.FormatFloat(e.Threshold, 'f', 4, 64),
				"model":       m.Name,
				"model_sha":   strings.TrimPrefix(m.Checksum, "sha256:")[:12],
				"trained_to":  m.Training.To.Format(time.RFC3339),
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
