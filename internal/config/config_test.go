package config

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/stretchr/testify/require"
)

const corpus = "../../testdata/config"

// expectedErrors holds, for every bad config of the corpus, every message it must produce, in
// order, with paths relative to the corpus directory (Prometheus' config_test.go habit).
var expectedErrors = map[string][]string{
	"batch_size_range.bad.yaml": {
		"batch_size_range.bad.yaml:2:15: warehouse.batch_size 0 is out of range: 1..1000000 rows",
	},
	"batch_size_type.bad.yaml": {
		"batch_size_type.bad.yaml:2:15: warehouse.batch_size must be an integer, got \"lots\"",
	},
	"bus_partitions.bad.yaml": {
		"bus_partitions.bad.yaml:3:15: bus.partitions 5000 is out of range: 1..1024",
	},
	"data_dir_file.bad.yaml": {
		"data_dir_file.bad.yaml:1:11: data_dir \"full.good.yaml\" exists but is not a directory",
		"data_dir_file.bad.yaml:3:8: warehouse.dsn: chdb directory \"full.good.yaml\" exists but is not a directory",
	},
	"dsn_no_host.bad.yaml": {
		"dsn_no_host.bad.yaml:2:8: warehouse.dsn: clickhouse:// needs a host, e.g. clickhouse://clickhouse:9000/amoskys",
		"dsn_no_host.bad.yaml:4:8: bus.dsn: sqlite:// needs a file path, e.g. sqlite://./data/bus.db",
	},
	"dsn_option.bad.yaml": {
		"dsn_option.bad.yaml:2:8: warehouse.dsn: bad warehouse DSN \"chdb://./data/warehouse?insert=carrier_pigeon\": insert=\"carrier_pigeon\": want *",
	},
	"dsn_password.bad.yaml": {
		"dsn_password.bad.yaml:2:8: warehouse.dsn must not carry a password: name the environment variable in warehouse.password_env",
		"dsn_password.bad.yaml:4:8: bus.dsn must not carry a password: set it in the PGPASSWORD environment variable",
	},
	"dsn_scheme.bad.yaml": {
		"dsn_scheme.bad.yaml:2:8: warehouse.dsn scheme \"mysql\" is not supported here: want one of chdb://, clickhouse://",
		"dsn_scheme.bad.yaml:4:8: bus.dsn scheme \"kafka\" is not supported here: want one of gochannel://, sqlite://, postgres://, postgresql://",
	},
	"duplicate_key.bad.yaml": {
		"duplicate_key.bad.yaml:3:1: key \"api\" given twice at the top level (first at line 1)",
	},
	"listen_no_port.bad.yaml": {
		"listen_no_port.bad.yaml:2:11: api.listen \"localhost\" is not HOST:PORT (e.g. 127.0.0.1:8080)",
	},
	"log_level_enum.bad.yaml": {
		"log_level_enum.bad.yaml:2:10: log.level \"verbose\" is not one of debug, info, warn, error",
		"log_level_enum.bad.yaml:3:11: log.format \"xml\" is not one of text, json",
	},
	"many_problems.bad.yaml": {
		"many_problems.bad.yaml:2:7: role \"agent\" runs part of the pipeline and needs a bus other processes can reach (sqlite://FILE or postgres://HOST/DB); gochannel:// only connects pipelines inside one process",
		"many_problems.bad.yaml:3:10: host_id \"not a host!\" is not a valid host name (letters, digits, '.', '_', '-'; at most 253 characters; empty means the OS hostname)",
		"many_problems.bad.yaml:6:14: warehouse.retention 10m is out of range: 1h..3650d",
		"many_problems.bad.yaml:7:15: warehouse.batch_size 2000000 is out of range: 1..1000000 rows",
		"many_problems.bad.yaml:8:17: warehouse.password_env must be the NAME of an environment variable (upper case letters, digits and '_', e.g. AMOSKYS_API_TOKEN), not the secret itself; the value is not shown",
		"many_problems.bad.yaml:8:17: warehouse.password_env applies to clickhouse:// servers only; the embedded chdb:// warehouse has no credentials or TLS",
		"many_problems.bad.yaml:10:11: api.listen port \"0\" is out of range: 1..65535",
		"many_problems.bad.yaml:11:14: api.token_env must name an environment variable (e.g. AMOSKYS_API_TOKEN)",
		"many_problems.bad.yaml:12:17: api.sql_max_rows 0 is out of range: 1..1000000 rows",
		"many_problems.bad.yaml:14:10: log.level \"loud\" is not one of debug, info, warn, error",
	},
	"unknown_and_invalid.bad.yaml": {
		"unknown_and_invalid.bad.yaml:3:11: api.listen port \"99999\" is out of range: 1..65535",
		"unknown_and_invalid.bad.yaml:4:3: unknown key \"bogus\" in api (allowed: enabled, listen, token_env, tls, sql_max_rows, sql_max_bytes, sql_timeout)",
		"unknown_and_invalid.bad.yaml:6:14: warehouse.retention 5m is out of range: 1h..3650d",
		"unknown_and_invalid.bad.yaml:8:10: log.level \"loud\" is not one of debug, info, warn, error",
	},
	"merge_key.bad.yaml": {
		"merge_key.bad.yaml:1:1: unknown key \"defaults\" at the top level (allowed: data_dir, host_id, role, warehouse, bus, api, metrics, benthos_http, pipelines, models, rules, log)",
		"merge_key.bad.yaml:4:3: api: YAML merge keys (<<) are not supported; write the keys out",
	},
	"model_missing.bad.yaml": {
		"model_missing.bad.yaml:2:8: models.dir: directory \"no_models_here\" does not exist",
		"model_missing.bad.yaml:3:12: models.iforest: model file \"models/nope.bin\" does not exist",
		"model_missing.bad.yaml:5:8: rules.dir: \"full.good.yaml\" is not a directory",
	},
	"pipeline_lint.bad.yaml": {
		"pipelines/bad_lint.yaml:5:5: field not_a_field not recognised (pipeline \"broken\")",
		"pipelines/bad_lint.yaml:8:3: field also_wrong is invalid when the component type is drop (output) (pipeline \"broken\")",
	},
	"pipeline_missing.bad.yaml": {
		"pipeline_missing.bad.yaml:3:11: pipelines[0].file: pipeline file \"pipelines/does_not_exist.yaml\" does not exist",
	},
	"pipeline_names.bad.yaml": {
		"pipeline_names.bad.yaml:4:11: pipelines[1].name \"ok\" is already used by pipelines[0]",
		"pipeline_names.bad.yaml:6:11: pipelines[2].name \"Bad-Name\" must be snake_case (a-z, 0-9, '_', starting with a letter)",
		"pipeline_names.bad.yaml:8:5: pipelines[3].name is missing: every pipeline needs a name",
		"pipeline_names.bad.yaml:9:5: pipelines[4].file is missing: the path of a Benthos stream config",
	},
	"port_clash.bad.yaml": {
		"port_clash.bad.yaml:5:11: benthos_http.listen \"0.0.0.0:8080\" clashes with api.listen \"127.0.0.1:8080\": both use port 8080",
	},
	"port_range.bad.yaml": {
		"port_range.bad.yaml:2:11: api.listen port \"70000\" is out of range: 1..65535",
	},
	"retention_range.bad.yaml": {
		"retention_range.bad.yaml:2:14: warehouse.retention 4000d is out of range: 1h..3650d",
	},
	"retention_syntax.bad.yaml": {
		"retention_syntax.bad.yaml:2:14: warehouse.retention: invalid duration \"30 days\": use e.g. \"90s\", \"12h\" or \"30d\"",
	},
	"role_enum.bad.yaml": {
		"role_enum.bad.yaml:1:7: role \"everything\" is not one of all, agent, detect, api",
	},
	"secret_literal.bad.yaml": {
		"secret_literal.bad.yaml:2:14: api.token_env must be the NAME of an environment variable (upper case letters, digits and '_', e.g. AMOSKYS_API_TOKEN), not the secret itself; the value is not shown",
	},
	"tls_files.bad.yaml": {
		"tls_files.bad.yaml:3:5: api.tls: cert_file and key_file go together: give both or neither",
		"tls_files.bad.yaml:3:16: api.tls.cert_file: certificate file \"certs/missing.pem\" does not exist",
		"tls_files.bad.yaml:7:14: warehouse.tls.ca_file: CA file \"certs\" is a directory, not a file",
	},
	"top_level_list.bad.yaml": {
		"top_level_list.bad.yaml:1:1: the top level must be a mapping of keys to values, got a list",
	},
	"two_documents.bad.yaml": {
		"two_documents.bad.yaml:2:1: the file holds more than one YAML document; config.yaml is one document",
	},
	"unknown_nested_key.bad.yaml": {
		"unknown_nested_key.bad.yaml:3:3: unknown key \"listn\" in api (allowed: enabled, listen, token_env, tls, sql_max_rows, sql_max_bytes, sql_timeout)",
	},
	"unknown_top_key.bad.yaml": {
		"unknown_top_key.bad.yaml:2:1: unknown key \"datadir\" at the top level (allowed: data_dir, host_id, role, warehouse, bus, api, metrics, benthos_http, pipelines, models, rules, log)",
	},
	"wrong_shapes.bad.yaml": {
		"wrong_shapes.bad.yaml:1:6: api must be a mapping of keys to values, got \"yes\"",
		"wrong_shapes.bad.yaml:3:3: pipelines must be a list, got a mapping",
		"wrong_shapes.bad.yaml:5:12: metrics.enabled must be true or false, got \"yes\"",
		"wrong_shapes.bad.yaml:7:14: warehouse.retention must be a duration such as \"30d\" or \"12h\", got a list",
	},
	"yaml_syntax.bad.yaml": {
		"yaml_syntax.bad.yaml:2:1: invalid YAML: did not find expected key",
	},
}

func loadCorpus(t *testing.T, name string) (*Config, error) {
	t.Helper()
	return Load(filepath.Join(corpus, name), Options{LookupEnv: func(string) (string, bool) { return "", false }})
}

func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(corpus, "*.bad.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 22)
	for _, f := range files {
		_, listed := expectedErrors[filepath.Base(f)]
		require.True(t, listed, "%s has no entry in expectedErrors", f)
	}
	for name, want := range expectedErrors {
		t.Run(name, func(t *testing.T) {
			_, err := loadCorpus(t, name)
			require.Error(t, err)
			var errs Errors
			require.ErrorAs(t, err, &errs)
			got := make([]string, len(errs))
			for i, e := range errs {
				got[i] = strings.TrimPrefix(e.Error(), corpus+string(filepath.Separator))
			}
			// A trailing "*" matches the rest of a message quoted from plugins/warehouse, whose
			// list of allowed values is not ours to pin.
			require.Len(t, got, len(want), "%q", got)
			for i := range want {
				if prefix, ok := strings.CutSuffix(want[i], "*"); ok {
					require.True(t, strings.HasPrefix(got[i], prefix), "got %q, want %q", got[i], want[i])
					continue
				}
				require.Equal(t, want[i], got[i])
			}
		})
	}
}

func TestGoodConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(corpus, "*.good.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 4)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := loadCorpus(t, filepath.Base(f))
			require.NoError(t, err)
			require.NotNil(t, c)
		})
	}
}

func TestFullConfigValues(t *testing.T) {
	c, err := loadCorpus(t, "full.good.yaml")
	require.NoError(t, err)
	require.Equal(t, "web-01.example", c.HostID)
	require.Equal(t, 90*24*time.Hour, c.Warehouse.Retention.D())
	require.Equal(t, 5000, c.API.SQLMaxRows)
	require.Equal(t, 30*time.Second, c.API.SQLTimeout.D())
	require.True(t, c.BenthosHTTP.Enabled)
	require.Equal(t, []Pipeline{{Name: "ok", File: "pipelines/ok.yaml"}}, c.Pipelines)
	require.Equal(t, "json", c.Log.Format)
	abs, err := filepath.Abs(corpus)
	require.NoError(t, err)
	require.Equal(t, "chdb://"+filepath.Join(abs, "data/warehouse"), c.WarehouseDSN())
	env := c.Env()
	require.Equal(t, filepath.Join(abs, "data"), env["AMOSKYS_DATA_DIR"])
	require.Equal(t, filepath.Join(abs, "models/iforest.json"), env["AMOSKYS_IFOREST_MODEL"])
	require.Equal(t, "gochannel://", env["AMOSKYS_BUS_DSN"])
	require.Equal(t, "web-01.example", env["AMOSKYS_HOST_ID"])
	require.Equal(t, "7776000", env["AMOSKYS_WAREHOUSE_RETENTION_SECONDS"])
	require.Equal(t, "1", env["AMOSKYS_BUS_PARTITIONS"])
}

func TestServerWarehouseDSN(t *testing.T) {
	c, err := loadCorpus(t, "server.good.yaml")
	require.NoError(t, err)
	abs, err := filepath.Abs(corpus)
	require.NoError(t, err)
	require.Equal(t, "clickhouse://clickhouse:9000/amoskys?ca_file="+url.QueryEscape(filepath.Join(abs, "certs/ca.pem"))+
		"&cert_file="+url.QueryEscape(filepath.Join(abs, "certs/cert.pem"))+
		"&key_file="+url.QueryEscape(filepath.Join(abs, "certs/key.pem"))+
		"&password_env=CLICKHOUSE_PASSWORD&secure=true&user_env=CLICKHOUSE_USER", c.WarehouseDSN())
	require.Equal(t, "postgres://amoskys@postgres:5432/amoskys?sslmode=disable", c.BusDSN())
}

func TestDefaults(t *testing.T) {
	c, err := loadCorpus(t, "empty.good.yaml")
	require.NoError(t, err)
	want := Default()
	want.File, want.BaseDir = c.File, c.BaseDir
	require.Equal(t, want, c)
	require.Equal(t, "127.0.0.1:8080", c.API.Listen)
	require.Equal(t, "AMOSKYS_API_TOKEN", c.API.TokenEnv)
	require.False(t, c.BenthosHTTP.Enabled)
	require.Equal(t, "127.0.0.1:4195", c.BenthosHTTP.Listen)
	require.Equal(t, "chdb://./data/warehouse", c.Warehouse.DSN)
	require.Equal(t, "30d", c.Warehouse.Retention.String())
}

// A secret written where a variable name belongs, or inside a DSN, never appears in a message.
func TestSecretsNeverEchoed(t *testing.T) {
	for _, name := range []string{"dsn_password.bad.yaml", "secret_literal.bad.yaml", "many_problems.bad.yaml"} {
		_, err := loadCorpus(t, name)
		require.Error(t, err)
		for _, secret := range []string{"hunter2", "s3cr3t"} {
			require.NotContains(t, err.Error(), secret, name)
		}
	}
}

func TestFileProblems(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(filepath.Join(dir, "nope.yaml"), Options{})
	require.EqualError(t, err, filepath.Join(dir, "nope.yaml")+":1:1: config file does not exist (give another with -c FILE)")
	_, err = Load(dir, Options{})
	require.EqualError(t, err, dir+":1:1: config path is a directory, not a file")
	big := filepath.Join(dir, "big.yaml")
	require.NoError(t, os.WriteFile(big, make([]byte, MaxFileSize+1), 0o600))
	_, err = Load(big, Options{})
	require.ErrorContains(t, err, "big.yaml:1:1: config file is 1048577 bytes; the limit is 1048576")
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30d": 30 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "90m": 90 * time.Minute, "1h30m": 90 * time.Minute,
	} {
		got, err := ParseDuration(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got.D(), in)
	}
	for _, in := range []string{"", "d", "1.5d", "-3d", "30 days", "x", "99999999d", "+1d"} {
		_, err := ParseDuration(in)
		require.Error(t, err, in)
	}
}

// FuzzParse: no input makes the loader panic, and every error carries FILE:LINE:COL.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(corpus, "*.yaml"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("api: {listen: '[::1]:8080'}\nwarehouse: {dsn: 'clickhouse://[::1'}"))
	f.Add([]byte("a: &a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml", Options{SkipPipelineLint: true})
		require.NotNil(t, c)
		if err == nil {
			return
		}
		var errs Errors
		require.ErrorAs(t, err, &errs)
		require.NotEmpty(t, errs)
		for _, e := range errs {
			require.Equal(t, "fuzz.yaml", e.File)
			require.Positive(t, e.Line)
			require.Positive(t, e.Col)
			require.NotEmpty(t, e.Msg)
		}
	})
}

func TestAliasCycle(t *testing.T) {
	_, err := Parse([]byte("pipelines: &p [*p]\n"), "c.yaml", Options{})
	require.Error(t, err)
	require.Contains(t, err.Error(), "c.yaml:1:")
}
