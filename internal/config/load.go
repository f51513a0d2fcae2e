package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Options tune Load and Parse.
type Options struct {
	// Env is the Benthos environment pipeline files are linted against; nil means
	// service.NewEnvironment() (every plugin linked into the binary).
	Env *service.Environment
	// LookupEnv reads environment variables (os.LookupEnv when nil).
	LookupEnv func(string) (string, bool)
	// SkipPipelineLint checks that pipeline files exist but does not lint them.
	SkipPipelineLint bool
}

// MaxFileSize bounds a config file; anything larger is refused before parsing.
const MaxFileSize = 1 << 20

// Load reads, decodes and validates the config file at path. On any problem it returns an
// Errors listing every problem; the *Config is returned too (with defaults) for callers that want it.
func Load(path string, opts Options) (*Config, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, Errors{{File: path, Line: 1, Col: 1, Msg: err.Error()}}
	}
	return Parse(data, path, opts)
}

func readLimited(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config file does not exist (give another with -c FILE)")
		}
		return nil, fmt.Errorf("cannot read config file: %v", err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("config path is a directory, not a file")
	}
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("config file is %d bytes; the limit is %d", fi.Size(), MaxFileSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config file: %v", err)
	}
	return data, nil
}

// Parse decodes and validates data, read from file (used in messages and to resolve relative paths).
func Parse(data []byte, file string, opts Options) (*Config, error) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	c := Default()
	c.File = file
	if abs, err := filepath.Abs(filepath.Dir(file)); err == nil {
		c.BaseDir = abs
	} else {
		c.BaseDir = filepath.Dir(file)
	}
	d := newDecoder(file)
	if len(data) > MaxFileSize {
		d.add(1, 1, "config is %d bytes; the limit is %d", len(data), MaxFileSize)
		return c, d.errs
	}
	if root := d.parseDocument(data); root != nil {
		d.decode(root, reflect.ValueOf(c).Elem(), "")
	}
	if len(d.errs) == d.soft {
		// Validate only what decoded cleanly: a type error already says what is wrong. Unknown
		// keys change no value, so the values beside them are still checked.
		v := &validator{d: d, c: c, opts: opts}
		v.validate()
	}
	if len(d.errs) > 0 {
		d.errs.sort()
		return c, d.errs
	}
	return c, nil
}

// Path resolves p against the directory of the config file.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.BaseDir, p)
}

// WarehouseDSN returns warehouse.dsn with a relative chdb:// directory resolved against the
// directory of the config file.
//
// For clickhouse:// it adds what config.yaml says beside the DSN: user_env and password_env
// (names of environment variables, never values) and TLS (secure=true, ca_file).
func (c *Config) WarehouseDSN() string {
	if rest, ok := strings.CutPrefix(c.Warehouse.DSN, "chdb://"); ok {
		dir, query, _ := strings.Cut(rest, "?")
		if query != "" {
			query = "?" + query
		}
		return "chdb://" + c.Path(dir) + query
	}
	if !strings.HasPrefix(c.Warehouse.DSN, "clickhouse://") {
		return c.Warehouse.DSN
	}
	base, query, _ := strings.Cut(c.Warehouse.DSN, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return c.Warehouse.DSN
	}
	set := func(k, v string) {
		if v != "" && q.Get(k) == "" {
			q.Set(k, v)
		}
	}
	set("user_env", c.Warehouse.UsernameEnv)
	set("password_env", c.Warehouse.PasswordEnv)
	if c.Warehouse.TLS.Enabled() {
		set("secure", "true")
		if c.Warehouse.TLS.CAFile != "" {
			set("ca_file", c.Path(c.Warehouse.TLS.CAFile))
		}
		if c.Warehouse.TLS.CertFile != "" { // client certificate: both files, validated together
			set("cert_file", c.Path(c.Warehouse.TLS.CertFile))
			set("key_file", c.Path(c.Warehouse.TLS.KeyFile))
		}
	}
	if len(q) == 0 {
		return base
	}
	return base + "?" + q.Encode()
}

// BusDSN returns bus.dsn with a relative sqlite:// file resolved like WarehouseDSN.
func (c *Config) BusDSN() string {
	if rest, ok := strings.CutPrefix(c.Bus.DSN, "sqlite://"); ok {
		path, query, _ := strings.Cut(rest, "?")
		if query != "" {
			query = "?" + query
		}
		return "sqlite://" + c.Path(path) + query
	}
	return c.Bus.DSN
}

// Env returns the environment variables `amoskys run` exports before building pipelines, so that
// pipeline YAML can read the config through ${AMOSKYS_...:default} interpolations.
func (c *Config) Env() map[string]string {
	m := map[string]string{
		"AMOSKYS_WAREHOUSE_DSN":               c.WarehouseDSN(),
		"AMOSKYS_BUS_DSN":                     c.BusDSN(),
		"AMOSKYS_DATA_DIR":                    c.Path(c.DataDir),
		"AMOSKYS_HOST_ID":                     c.HostID,
		"AMOSKYS_MODELS_DIR":                  c.Path(c.Models.Dir),
		"AMOSKYS_RULES_DIR":                   c.Path(c.Rules.Dir),
		"AMOSKYS_WAREHOUSE_BATCH_SIZE":        strconv.Itoa(c.Warehouse.BatchSize),
		"AMOSKYS_WAREHOUSE_RETENTION_SECONDS": strconv.FormatInt(int64(c.Warehouse.Retention.D().Seconds()), 10),
		"AMOSKYS_ROLE":                        c.Role,
		"AMOSKYS_BUS_PARTITIONS":              strconv.Itoa(c.Bus.Partitions),
	}
	if c.Models.IForest != "" {
		m["AMOSKYS_IFOREST_MODEL"] = c.Path(c.Models.IForest)
	}
	if c.Warehouse.LibCHDB != "" {
		m["AMOSKYS_LIBCHDB"] = c.Path(c.Warehouse.LibCHDB)
	}
	return m
}
