package replay

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/amoskys/amoskys/internal/iforest"
	windowstage "github.com/amoskys/amoskys/processors/window"
	"github.com/amoskys/amoskys/schemas"
)

// BenchModel trains the iforest layer's model for the bench as `amoskys train` would train one:
// an Isolation Forest (100 trees × 256) over the host windows the window stage (default config,
// as in pipelines/detect.yaml) makes of the first n synthetic events. It is saved as
// dir/models/iforest.json; the returned models directory goes in AMOSKYS_MODELS_DIR, so the
// detect chain's iforest stage scores and explains every host window instead of abstaining.
func BenchModel(dir string, n, hosts int, start time.Time) (models string, rows int, err error) {
	w, err := windowstage.New(windowstage.DefaultConfig())
	if err != nil {
		return "", 0, err
	}
	var names []string
	X := iforest.Matrix{}
	var from, to time.Time
	add := func(vs []*schemas.FeatureVector) {
		for _, v := range vs {
			if v.KeyKind != windowstage.KindHost {
				continue
			}
			if names == nil {
				names, from = slices.Clone(v.Names), v.Start
				X.Cols = len(names)
			}
			if !slices.Equal(names, v.Names) {
				continue
			}
			X.Data = append(X.Data, v.Values...)
			X.Rows++
			to = v.End
		}
	}
	for _, ev := range Synthetic(n, hosts, start) {
		add(w.Add(ev))
	}
	add(w.Flush())
	if X.Rows == 0 {
		return "", 0, fmt.Errorf("bench model: no host windows in the first %d synthetic events", n)
	}
	m, err := iforest.Train(names, X, iforest.TrainOptions{Params: iforest.DefaultParams(), Name: "bench",
		KeyKind: windowstage.KindHost, FeatureSet: windowstage.KindHost, From: from, To: to, Created: to, Source: "bench replay"})
	if err != nil {
		return "", 0, fmt.Errorf("bench model: %w", err)
	}
	models = filepath.Join(dir, "models")
	if err := os.MkdirAll(models, 0o755); err != nil {
		return "", 0, err
	}
	if err := m.Save(filepath.Join(models, "iforest.json")); err != nil {
		return "", 0, err
	}
	return models, X.Rows, nil
}

// useBenchModel trains the bench's model on the first fifth of the stream, points
// AMOSKYS_MODELS_DIR at it for the runs and says so on w. restore puts the variable back.
func useBenchModel(w io.Writer, dir string, o BenchReportOptions) (restore func(), err error) {
	models, rows, err := BenchModel(dir, max(o.Events/5, 1), o.Hosts, o.Start)
	if err != nil {
		return nil, err
	}
	old, had := os.LookupEnv("AMOSKYS_MODELS_DIR")
	restore = func() {
		if had {
			os.Setenv("AMOSKYS_MODELS_DIR", old)
		} else {
			os.Unsetenv("AMOSKYS_MODELS_DIR")
		}
	}
	if err := os.Setenv("AMOSKYS_MODELS_DIR", models); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "The iforest stage scores and explains host windows with a model trained on the %d host windows of the first %d events (100 trees × 256).\n", rows, max(o.Events/5, 1))
	return restore, nil
}
