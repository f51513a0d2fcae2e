// Package config loads config.yaml, the one file `amoskys run` reads: it decodes strictly (unknown
// keys are errors), applies defaults, validates every field and reports every problem at once as
// `FILE:LINE:COL: message`, the way Prometheus reports its configuration errors.
package config

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Roles a process can take.
const (
	RoleAll    = "all"    // collectors, detection, warehouse and API in one process
	RoleAgent  = "agent"  // collectors only, publishing to the bus
	RoleDetect = "detect" // detection worker consuming the bus
	RoleAPI    = "api"    // the HTTP API only
)

// Roles lists every valid role.
var Roles = []string{RoleAll, RoleAgent, RoleDetect, RoleAPI}

// LogLevels lists every valid log level.
var LogLevels = []string{"debug", "info", "warn", "error"}

// LogFormats lists every valid log format.
var LogFormats = []string{"text", "json"}

// Limits stated in the messages and enforced by Validate.
const (
	MinRetention    = time.Hour
	MaxRetention    = 3650 * 24 * time.Hour
	MinBatchSize    = 1
	MaxBatchSize    = 1_000_000
	MinSQLMaxRows   = 1
	MaxSQLMaxRows   = 1_000_000
	MinSQLMaxBytes  = 1 << 10
	MaxSQLMaxBytes  = 1 << 30
	MinSQLTimeout   = time.Second
	MaxSQLTimeout   = time.Hour
	MaxPartitions   = 1024
	DefaultAPIToken = "AMOSKYS_API_TOKEN"
)

// Config is config.yaml.
type Config struct {
	// DataDir holds everything the process writes: the chDB warehouse, the bus, the API token.
	DataDir string `yaml:"data_dir"`
	// HostID names this host in every event; empty means the OS hostname.
	HostID string `yaml:"host_id"`
	// Role selects what this process runs: all | agent | detect | api.
	Role        string            `yaml:"role"`
	Warehouse   WarehouseConfig   `yaml:"warehouse"`
	Bus         BusConfig         `yaml:"bus"`
	API         APIConfig         `yaml:"api"`
	Metrics     MetricsConfig     `yaml:"metrics"`
	BenthosHTTP BenthosHTTPConfig `yaml:"benthos_http"`
	Pipelines   []Pipeline        `yaml:"pipelines"`
	Models      ModelsConfig      `yaml:"models"`
	Rules       RulesConfig       `yaml:"rules"`
	Log         LogConfig         `yaml:"log"`

	// File is the path the config was read from; BaseDir the directory relative paths start from.
	File    string `yaml:"-"`
	BaseDir string `yaml:"-"`
}

// WarehouseConfig selects and tunes the ClickHouse warehouse.
type WarehouseConfig struct {
	// DSN: chdb://DIR (embedded) or clickhouse://HOST:PORT/DB (server).
	DSN string `yaml:"dsn"`
	// LibCHDB is the path of libchdb.so; empty means AMOSKYS_LIBCHDB or the cache of `make libchdb`.
	LibCHDB string `yaml:"libchdb"`
	// Retention is the TTL of telemetry, features and alerts (1h..3650d).
	Retention Duration `yaml:"retention"`
	// BatchSize is the insert batch of the clickhouse output (1..1000000 rows).
	BatchSize int `yaml:"batch_size"`
	// UsernameEnv and PasswordEnv name the environment variables holding the server credentials.
	UsernameEnv string    `yaml:"username_env"`
	PasswordEnv string    `yaml:"password_env"`
	TLS         TLSConfig `yaml:"tls"`
}

// BusConfig selects the Watermill transport between pipelines.
type BusConfig struct {
	// DSN: gochannel:// (one process), sqlite://FILE (durable, one host), postgres://HOST/DB.
	DSN string `yaml:"dsn"`
	// Partitions splits each topic by host so several detectors share the load (1..1024).
	Partitions int `yaml:"partitions"`
}

// TLSConfig names PEM files; every file given must exist, cert and key go together.
type TLSConfig struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether a certificate is configured (server side) or a CA (client side).
func (t TLSConfig) Enabled() bool { return t.CertFile != "" || t.CAFile != "" }

// APIConfig is the Fiber HTTP API.
type APIConfig struct {
	Enabled bool `yaml:"enabled"`
	// Listen is HOST:PORT; loopback by default.
	Listen string `yaml:"listen"`
	// TokenEnv names the environment variable holding the bearer token of /api.
	TokenEnv string    `yaml:"token_env"`
	TLS      TLSConfig `yaml:"tls"`
	// SQLMaxRows and SQLMaxBytes bound what /api/sql returns; SQLTimeout bounds how long it runs.
	SQLMaxRows  int      `yaml:"sql_max_rows"`
	SQLMaxBytes int      `yaml:"sql_max_bytes"`
	SQLTimeout  Duration `yaml:"sql_timeout"`
}

// MetricsConfig switches /metrics and the Benthos Prometheus exporter.
type MetricsConfig struct {
	Enabled bool `yaml:"enabled"`
}

// BenthosHTTPConfig is Benthos' own HTTP server (/ready, /stats, component endpoints); off by default.
type BenthosHTTPConfig struct {
	Enabled bool   `yaml:"enabled"`
	Listen  string `yaml:"listen"`
}

// Pipeline is one Benthos stream config file that `amoskys run` starts.
type Pipeline struct {
	Name string `yaml:"name"`
	File string `yaml:"file"`
}

// ModelsConfig locates trained models.
type ModelsConfig struct {
	Dir string `yaml:"dir"`
	// IForest is an Isolation Forest model file; optional, must exist when given.
	IForest string `yaml:"iforest"`
}

// RulesConfig locates the geometric layer's rules.
type RulesConfig struct {
	Dir string `yaml:"dir"`
}

// LogConfig sets the process logger.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Default returns a Config holding every default.
func Default() *Config {
	return &Config{
		DataDir: "./data",
		Role:    RoleAll,
		Warehouse: WarehouseConfig{
			DSN:       "chdb://./data/warehouse",
			Retention: Duration(30 * 24 * time.Hour),
			BatchSize: 10000,
		},
		Bus: BusConfig{DSN: "gochannel://", Partitions: 1},
		API: APIConfig{
			Enabled:     true,
			Listen:      "127.0.0.1:8080",
			TokenEnv:    DefaultAPIToken,
			SQLMaxRows:  10000,
			SQLMaxBytes: 64 << 20,
			SQLTimeout:  Duration(time.Minute),
		},
		Metrics:     MetricsConfig{Enabled: true},
		BenthosHTTP: BenthosHTTPConfig{Enabled: false, Listen: "127.0.0.1:4195"},
		Models:      ModelsConfig{Dir: "./models"},
		Rules:       RulesConfig{Dir: "./rules"},
		Log:         LogConfig{Level: "info", Format: "text"},
	}
}

// Duration is a time.Duration written as Go durations ("90m", "1h30m") or whole days/weeks ("30d", "2w").
type Duration time.Duration

// ParseDuration parses s as a Duration.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if num, ok := strings.CutSuffix(s, suffix); ok {
			var n int64
			if _, err := fmt.Sscanf(num, "%d", &n); err != nil || fmt.Sprint(n) != num {
				return 0, fmt.Errorf("invalid duration %q: want a whole number of %s, e.g. \"30%s\"", s, suffix, suffix)
			}
			if n < 0 || n > 1_000_000 {
				return 0, fmt.Errorf("invalid duration %q: out of range", s)
			}
			return Duration(time.Duration(n) * unit), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use e.g. \"90s\", \"12h\" or \"30d\"", s)
	}
	return Duration(d), nil
}

// String renders d in days when whole, else as a Go duration.
func (d Duration) String() string {
	td := time.Duration(d)
	if td > 0 && td%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", td/(24*time.Hour))
	}
	s := td.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Error is one problem found in a config file, at a position.
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
}

func (e Error) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg) }

// Errors is every problem found in a config, ordered by file and position.
type Errors []Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es Errors) sort() {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}
