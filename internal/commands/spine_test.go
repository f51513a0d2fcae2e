package commands_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
	ucli "github.com/urfave/cli/v2"

	"github.com/amoskys/amoskys/internal/cli"
	_ "github.com/amoskys/amoskys/internal/commands"
	"github.com/amoskys/amoskys/plugins/warehouse"
)

var exitMu sync.Mutex

// amoskys runs the real command line in process and returns its exit code, stdout and stderr.
func amoskys(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	exitMu.Lock()
	defer exitMu.Unlock()
	code := 0
	oldExiter, oldOut, oldErr, oldUErr := ucli.OsExiter, os.Stdout, os.Stderr, ucli.ErrWriter
	ucli.OsExiter = func(c int) { code = c }
	dir := t.TempDir()
	outF, err := os.Create(filepath.Join(dir, "stdout"))
	require.NoError(t, err)
	errF, err := os.Create(filepath.Join(dir, "stderr"))
	require.NoError(t, err)
	os.Stdout, os.Stderr, ucli.ErrWriter = outF, errF, errF
	opts := append(cli.Options(), service.CLIOptSetArgs(append([]string{"amoskys"}, args...)...))
	rc, runErr := service.RunCLIToCode(context.Background(), opts...)
	os.Stdout, os.Stderr, ucli.OsExiter, ucli.ErrWriter = oldOut, oldErr, oldExiter, oldUErr
	outF.Close()
	errF.Close()
	if code == 0 {
		code = rc
	}
	if runErr != nil && code == 0 {
		code = 1
	}
	stdout, _ := os.ReadFile(filepath.Join(dir, "stdout"))
	stderr, _ := os.ReadFile(filepath.Join(dir, "stderr"))
	return code, string(stdout), string(stderr)
}

const corpus = "../../testdata/config"

func TestConfigValidate(t *testing.T) {
	code, out, errOut := amoskys(t, "config", "validate", "-c", filepath.Join(corpus, "full.good.yaml"))
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "full.good.yaml: valid (role all, 1 pipelines")

	bad := filepath.Join(corpus, "many_problems.bad.yaml")
	code, out, errOut = amoskys(t, "config", "validate", "-c", bad)
	require.Equal(t, 2, code)
	require.Empty(t, out)
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	require.Len(t, lines, 10, errOut)
	for _, l := range lines {
		require.True(t, strings.HasPrefix(l, bad+":"), l)
	}
	require.Equal(t, bad+":14:10: log.level \"loud\" is not one of debug, info, warn, error", lines[9])

	code, _, errOut = amoskys(t, "config", "validate", "-c", filepath.Join(t.TempDir(), "missing.yaml"))
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "missing.yaml:1:1: config file does not exist")
}

// run refuses an invalid config with the same report and exit code as config validate.
func TestRunRefusesInvalidConfig(t *testing.T) {
	bad := filepath.Join(corpus, "pipeline_lint.bad.yaml")
	code, _, want := amoskys(t, "config", "validate", "-c", bad)
	require.Equal(t, 2, code)
	code, _, got := amoskys(t, "run", "-c", bad)
	require.Equal(t, 2, code)
	require.Equal(t, want, got)
	require.Contains(t, got, "pipelines/bad_lint.yaml:5:5: field not_a_field not recognised (pipeline \"broken\")")
}

func TestSQLUsageErrors(t *testing.T) {
	good := filepath.Join(corpus, "minimal.good.yaml")
	for name, args := range map[string][]string{
		"no query":   {"sql", "-c", good},
		"bad format": {"sql", "-c", good, "--format", "xml", "SELECT 1"},
		"both":       {"sql", "-c", good, "-f", "x.sql", "SELECT 1"},
		"no file":    {"sql", "-c", good, "-f", filepath.Join(t.TempDir(), "none.sql")},
		"bad config": {"sql", "-c", filepath.Join(corpus, "role_enum.bad.yaml"), "SELECT 1"},
	} {
		code, _, errOut := amoskys(t, args...)
		require.Equal(t, 2, code, name)
		require.NotEmpty(t, errOut, name)
	}
}

// sql and migrate on a real embedded warehouse, opened directly (nothing runs on api.listen).
func TestSQLAndMigrateOnEmbeddedWarehouse(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("api: {listen: 127.0.0.1:1}\n"), 0o600))
	probe, err := warehouse.Open(t.Context(), "chdb://"+filepath.Join(dir, "data/warehouse"))
	if err != nil {
		if os.Getenv("AMOSKYS_REQUIRE_DEPS") != "1" && errors.Is(err, warehouse.ErrLibraryMissing) {
			t.Skipf("embedded warehouse unavailable: %v", err)
		}
		t.Fatal(err)
	}
	// Keep the engine open across the commands: one chDB engine per process.
	defer probe.Close()

	code, out, errOut := amoskys(t, "migrate", "-c", cfg)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "applied 0001_telemetry.sql")
	code, out, _ = amoskys(t, "migrate", "-c", cfg)
	require.Equal(t, 0, code)
	require.Equal(t, "warehouse is up to date\n", out)

	code, out, errOut = amoskys(t, "sql", "-c", cfg, "--format", "tsv", "SELECT count() > 0 AS ok FROM schema_migrations")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "ok\n1\n", out)

	q := filepath.Join(dir, "q.sql")
	require.NoError(t, os.WriteFile(q, []byte("-- a saved query\nSELECT 40 + 2 AS answer;\n"), 0o600))
	code, out, errOut = amoskys(t, "sql", "-c", cfg, "-f", q)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "answer\n------\n42\n(1 row)\n", out)

	code, _, errOut = amoskys(t, "sql", "-c", cfg, "SELECT * FROM no_such_table")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "no_such_table")
}
