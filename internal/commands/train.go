package commands

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	ucli "github.com/urfave/cli/v2"

	"github.com/amoskys/amoskys/internal/cli"
	"github.com/amoskys/amoskys/internal/iforest"
	"github.com/amoskys/amoskys/internal/iforest/train"
	"github.com/amoskys/amoskys/plugins/warehouse"
)

func init() {
	cli.Register(&ucli.Command{
		Name:  "train",
		Usage: "fit the Isolation Forest on feature vectors stored in the warehouse and save the model",
		Description: "Reads the features table for one key kind and window length over [--from, --to), fits\n" +
			"an Isolation Forest, sets its threshold from --contamination, and with --labels (CSV: id,label)\n" +
			"reports k-fold cross-validated ROC AUC and precision at k. The model file names its features,\n" +
			"training window, data hash and metrics; the iforest processor reloads it when it changes.",
		Flags: []ucli.Flag{
			configFlag(),
			&ucli.StringFlag{Name: "warehouse", Usage: "warehouse DSN (default: warehouse.dsn of the config)"},
			&ucli.StringFlag{Name: "from", Required: true, Usage: "training window start: RFC 3339, a date, or a duration ago (24h)"},
			&ucli.StringFlag{Name: "to", Value: "now", Usage: "training window end (exclusive)"},
			&ucli.StringFlag{Name: "key-kind", Value: "host", Usage: "key kind of the vectors: host, process, interface, device"},
			&ucli.StringFlag{Name: "window", Value: "1m", Usage: "window label of the vectors (1m, 5m/1m, 1h/5m)"},
			&ucli.StringFlag{Name: "features", Usage: "feature set: a key kind (all its window features) or a comma list of names (default: the key kind)"},
			&ucli.StringSliceFlag{Name: "host", Usage: "only these hosts (repeatable)"},
			&ucli.StringFlag{Name: "labels", Usage: "labels CSV with columns id,label (1 = outlier) for cross-validation"},
			&ucli.IntFlag{Name: "folds", Value: 5, Usage: "cross-validation folds"},
			&ucli.IntFlag{Name: "top-k", Usage: "k of precision at k (0: the number of labelled outliers)"},
			&ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "model file to write, e.g. models/iforest.json"},
			&ucli.StringFlag{Name: "name", Usage: "model name (default: the output file's name)"},
			&ucli.IntFlag{Name: "trees", Value: 100, Usage: "trees"},
			&ucli.IntFlag{Name: "samples", Value: 256, Usage: "subsample size ψ per tree"},
			&ucli.Float64Flag{Name: "max-features", Value: 1, Usage: "share of features each tree may split on"},
			&ucli.Float64Flag{Name: "contamination", Value: 0.01, Usage: "expected outlier share of the training data; sets the threshold (0: 0.5)"},
			&ucli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed, 0..4294967295: the same seed and data give the same model, the forest scikit-learn's IsolationForest grows for random_state=seed"},
			&ucli.StringFlag{Name: "normalise", Value: "none", Usage: "none or robust ((x - median) / IQR)"},
			&ucli.IntFlag{Name: "min-rows", Value: 32, Usage: "refuse to fit on fewer vectors"},
			&ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
		},
		Action: func(c *ucli.Context) error {
			now := time.Now()
			from, err := train.ParseTime(c.String("from"), now)
			if err != nil {
				return ucli.Exit("amoskys train: --from: "+err.Error(), ExitInvalid)
			}
			to, err := train.ParseTime(c.String("to"), now)
			if err != nil {
				return ucli.Exit("amoskys train: --to: "+err.Error(), ExitInvalid)
			}
			dsn := c.String("warehouse")
			if dsn == "" {
				cfg, err := loadConfig(c)
				if err != nil {
					return err
				}
				if cfg.Warehouse.LibCHDB != "" {
					warehouse.SetLibraryPath(cfg.Path(cfg.Warehouse.LibCHDB))
				}
				dsn = cfg.WarehouseDSN()
			}
			out := c.String("output")
			if filepath.Ext(out) == "" {
				out += ".json"
			}
			p := iforest.DefaultParams()
			p.Trees, p.SampleSize, p.MaxFeatures = c.Int("trees"), c.Int("samples"), c.Float64("max-features")
			p.Contamination, p.Seed = c.Float64("contamination"), c.Uint64("seed")
			if err := p.Validate(); err != nil {
				return ucli.Exit("amoskys train: "+err.Error(), ExitInvalid)
			}
			w, err := warehouse.Open(c.Context, dsn)
			if errors.Is(err, warehouse.ErrLocked) {
				return ucli.Exit("amoskys train: "+err.Error()+"; stop `amoskys run`, or train against a ClickHouse server", 1)
			}
			if err != nil {
				return ucli.Exit("amoskys train: "+err.Error(), 1)
			}
			defer w.Close()
			var prog train.Progress
			if !c.Bool("quiet") {
				prog = progressbar.NewOptions(-1, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowCount(),
					progressbar.OptionShowIts(), progressbar.OptionSetItsString("vectors"), progressbar.OptionClearOnFinish(),
					progressbar.OptionThrottle(100*time.Millisecond))
			}
			rep, err := train.Run(c.Context, train.WarehouseSource{W: w}, train.Options{
				Query:      train.Query{From: from, To: to, KeyKind: c.String("key-kind"), Window: c.String("window"), Hosts: c.StringSlice("host")},
				FeatureSet: c.String("features"), Labels: c.String("labels"), Output: out, Name: c.String("name"),
				Params: p, Normalise: c.String("normalise"), Folds: c.Int("folds"), TopK: c.Int("top-k"),
				Progress: prog, MinRows: c.Int("min-rows"),
			})
			if err != nil {
				return ucli.Exit("amoskys train: "+strings.TrimSpace(err.Error()), 1)
			}
			rep.Print(c.App.Writer)
			fmt.Fprintln(c.App.Writer, "the iforest processor picks the model up from", out, "when it is its model_path")
			return nil
		},
	})
}
