package dashboards

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/clickhouse"
	"github.com/amoskys/amoskys/plugins/warehouse"
)

type dashboard struct {
	UID    string `json:"uid"`
	Title  string `json:"title"`
	Panels []struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Targets []struct {
			Datasource struct {
				Type string `json:"type"`
			} `json:"datasource"`
			RawSQL string `json:"rawSql"`
			Expr   string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func load(t *testing.T) map[string]dashboard {
	files, err := filepath.Glob("*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]dashboard{}
	uids := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var d dashboard
		require.NoError(t, json.Unmarshal(b, &d), f)
		require.NotEmpty(t, d.UID, f)
		require.False(t, uids[d.UID], "duplicate uid %s", d.UID)
		uids[d.UID] = true
		ids := map[int]bool{}
		for _, p := range d.Panels {
			require.False(t, ids[p.ID], "%s: duplicate panel id %d", f, p.ID)
			ids[p.ID] = true
			require.NotEmpty(t, p.Targets, "%s: panel %q has no query", f, p.Title)
		}
		out[f] = d
	}
	return out
}

func TestDashboardsAreWellFormed(t *testing.T) {
	for f, d := range load(t) {
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				switch tg.Datasource.Type {
				case "grafana-clickhouse-datasource":
					require.NotEmpty(t, tg.RawSQL, "%s: %s", f, p.Title)
				case "prometheus":
					require.Regexp(t, `amoskys_[a-z_]+`, tg.Expr, "%s: %s", f, p.Title)
				default:
					t.Fatalf("%s: panel %q: unexpected data source %q", f, p.Title, tg.Datasource.Type)
				}
			}
		}
	}
}

var (
	timeFilter   = regexp.MustCompile(`\$__timeFilter\((\w+)\)`)
	timeInterval = regexp.MustCompile(`\$__timeInterval\((\w+)\)`)
)

// Every ClickHouse panel query runs on the embedded warehouse with the real migrations, with
// Grafana's macros expanded as the ClickHouse plugin expands them.
func TestClickHouseQueriesRunOnTheWarehouse(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	w, err := warehouse.Open(ctx, "chdb://"+dir)
	if err != nil {
		if errors.Is(err, warehouse.ErrLibraryMissing) && os.Getenv("AMOSKYS_REQUIRE_DEPS") != "1" {
			t.Skipf("libchdb missing: %v", err)
		}
		t.Fatal(err)
	}
	defer w.Close()
	require.NoError(t, warehouse.Migrate(ctx, w, clickhouse.Migrations()))
	n := 0
	for f, d := range load(t) {
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if tg.RawSQL == "" {
					continue
				}
				q := timeFilter.ReplaceAllString(tg.RawSQL, "$1 >= now() - INTERVAL 1 DAY AND $1 <= now()")
				q = timeInterval.ReplaceAllString(q, "toStartOfInterval($1, INTERVAL 60 second)")
				_, err := w.Query(ctx, q, "JSONEachRow")
				require.NoError(t, err, "%s: panel %q:\n%s", f, p.Title, q)
				n++
			}
		}
	}
	require.Positive(t, n)
}
