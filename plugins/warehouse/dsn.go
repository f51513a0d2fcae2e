package warehouse

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DSN schemes.
const (
	SchemeCHDB       = "chdb"
	SchemeClickHouse = "clickhouse"
)

// Insert methods of the chDB backend (DSN option insert=...).
const (
	InsertTSV     = "tsv"      // TabSeparated inlined in the INSERT statement
	InsertTSVFile = "tsv_file" // TabSeparated written to a temp file, read with file()
	// InsertRowBinaryFile (the default) writes RowBinary to a temp file (tmpfs) read with
	// file() declaring plain String for LowCardinality columns: the fastest measured.
	InsertRowBinaryFile = "rowbinary_file"
)

// Config is a parsed DSN.
//
//	chdb://PATH[?lib=/path/libchdb.so&insert=rowbinary_file|tsv_file|tsv&tmp_dir=/dev/shm&conns=2]
//	clickhouse://HOST:PORT[,HOST2:PORT]/DB[?secure=true&skip_verify=false&ca_file=PATH
//	    &cert_file=PATH&key_file=PATH
//	    &user_env=AMOSKYS_CLICKHOUSE_USER&password_env=AMOSKYS_CLICKHOUSE_PASSWORD
//	    &dial_timeout=5s&max_open_conns=4&compress=lz4]
type Config struct {
	Scheme string
	// chdb
	Path       string // data directory, absolute
	Lib        string // libchdb.so path; empty: AMOSKYS_LIBCHDB, then standard places
	InsertWith string // InsertRowBinary | InsertTSV | InsertTSVFile
	TmpDir     string // for the file() insert methods
	Conns      int    // connections to the engine (statements run in parallel on them)
	// clickhouse
	Hosts        []string // host:port
	Database     string
	Secure       bool
	SkipVerify   bool
	CAFile       string
	CertFile     string // client certificate (PEM), with KeyFile; needs secure=true
	KeyFile      string // its private key (PEM)
	UserEnv      string // name of the env var holding the user name
	PasswordEnv  string // name of the env var holding the password
	DialTimeout  time.Duration
	MaxOpenConns int
	Compress     string // none | lz4 | zstd
}

// Default env var names for server credentials.
const (
	DefaultUserEnv     = "AMOSKYS_CLICKHOUSE_USER"
	DefaultPasswordEnv = "AMOSKYS_CLICKHOUSE_PASSWORD"
)

func (c Config) key() string {
	if c.Scheme == SchemeCHDB {
		return "chdb://" + c.Path
	}
	return c.Redacted()
}

// Redacted renders the config as a DSN; it never holds secrets (they come from env vars).
func (c Config) Redacted() string {
	if c.Scheme == SchemeCHDB {
		return "chdb://" + c.Path
	}
	return fmt.Sprintf("clickhouse://%s/%s?secure=%t", strings.Join(c.Hosts, ","), c.Database, c.Secure)
}

func badDSN(dsn, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrBadDSN, redactRaw(dsn), fmt.Sprintf(format, args...))
}

// redactRaw hides a password written inline (user:pass@host), which we refuse anyway.
func redactRaw(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.Index(rest, "@"); at >= 0 {
			if slash := strings.Index(rest, "/"); slash < 0 || at < slash {
				return dsn[:i+3] + "REDACTED@" + rest[at+1:]
			}
		}
	}
	return dsn
}

// ParseDSN parses a warehouse DSN. Errors wrap ErrBadDSN and say what is allowed.
func ParseDSN(dsn string) (Config, error) {
	dsn = strings.TrimSpace(dsn)
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return Config{}, badDSN(dsn, "want chdb://PATH or clickhouse://HOST:PORT/DB")
	}
	switch scheme {
	case SchemeCHDB:
		return parseCHDB(dsn, rest)
	case SchemeClickHouse:
		return parseServer(dsn)
	default:
		return Config{}, badDSN(dsn, "unknown scheme %q: want chdb or clickhouse", scheme)
	}
}

func parseCHDB(dsn, rest string) (Config, error) {
	c := Config{Scheme: SchemeCHDB, InsertWith: InsertRowBinaryFile, TmpDir: defaultTmpDir(), Conns: 2}
	path, query, _ := strings.Cut(rest, "?")
	if path == "" {
		return c, badDSN(dsn, "missing data directory: want chdb://PATH, e.g. chdb://./data/warehouse")
	}
	if strings.ContainsRune(path, 0) || strings.ContainsAny(path, "\n\r") {
		return c, badDSN(dsn, "path holds a control character")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return c, badDSN(dsn, "path: %v", err)
	}
	c.Path = abs
	vals, err := url.ParseQuery(query)
	if err != nil {
		return c, badDSN(dsn, "options: %v", err)
	}
	for _, k := range sortedKeys(vals) {
		v := vals.Get(k)
		switch k {
		case "lib":
			c.Lib = v
		case "insert":
			switch v {
			case InsertTSV, InsertTSVFile, InsertRowBinaryFile:
				c.InsertWith = v
			default:
				return c, badDSN(dsn, "insert=%q: want rowbinary_file, tsv_file or tsv", v)
			}
		case "tmp_dir":
			if v == "" {
				return c, badDSN(dsn, "tmp_dir is empty")
			}
			c.TmpDir = v
		case "conns":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 16 {
				return c, badDSN(dsn, "conns=%q: want 1..16", v)
			}
			c.Conns = n
		default:
			return c, badDSN(dsn, "unknown option %q: chdb takes lib, insert, tmp_dir, conns", k)
		}
	}
	return c, nil
}

func defaultTmpDir() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

func parseServer(dsn string) (Config, error) {
	c := Config{Scheme: SchemeClickHouse, Database: "default", UserEnv: DefaultUserEnv,
		PasswordEnv: DefaultPasswordEnv, DialTimeout: 5 * time.Second, MaxOpenConns: 4, Compress: "lz4"}
	rest := dsn[len("clickhouse://"):]
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if strings.Contains(authority, "@") {
		return c, badDSN(dsn, "credentials in the DSN are refused: set them in env vars (user_env, password_env options; default %s, %s)", DefaultUserEnv, DefaultPasswordEnv)
	}
	if authority == "" {
		return c, badDSN(dsn, "missing host: want clickhouse://HOST:PORT/DB")
	}
	u, err := url.Parse("clickhouse://h" + tail)
	if err != nil {
		return c, badDSN(dsn, "%v", err)
	}
	u.Host = authority
	for _, h := range strings.Split(u.Host, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			if !strings.Contains(h, ":") {
				host, port = h, "9000"
			} else {
				return c, badDSN(dsn, "host %q: %v", h, err)
			}
		}
		if host == "" {
			return c, badDSN(dsn, "empty host in %q", h)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return c, badDSN(dsn, "port %q: want 1..65535", port)
		}
		c.Hosts = append(c.Hosts, net.JoinHostPort(host, port))
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if !validIdent(db) {
			return c, badDSN(dsn, "database %q: want letters, digits and _", db)
		}
		c.Database = db
	}
	for _, k := range sortedKeys(u.Query()) {
		v := u.Query().Get(k)
		switch k {
		case "secure":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return c, badDSN(dsn, "secure=%q: want true or false", v)
			}
			c.Secure = b
		case "skip_verify":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return c, badDSN(dsn, "skip_verify=%q: want true or false", v)
			}
			c.SkipVerify = b
		case "ca_file":
			c.CAFile = v
		case "cert_file":
			c.CertFile = v
		case "key_file":
			c.KeyFile = v
		case "user_env", "password_env":
			if !validEnvName(v) {
				return c, badDSN(dsn, "%s=%q: want an environment variable name", k, v)
			}
			if k == "user_env" {
				c.UserEnv = v
			} else {
				c.PasswordEnv = v
			}
		case "dial_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > 5*time.Minute {
				return c, badDSN(dsn, "dial_timeout=%q: want a duration in (0, 5m]", v)
			}
			c.DialTimeout = d
		case "max_open_conns":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 256 {
				return c, badDSN(dsn, "max_open_conns=%q: want 1..256", v)
			}
			c.MaxOpenConns = n
		case "compress":
			switch v {
			case "none", "lz4", "zstd":
				c.Compress = v
			default:
				return c, badDSN(dsn, "compress=%q: want none, lz4 or zstd", v)
			}
		case "password", "username", "user":
			return c, badDSN(dsn, "option %q refused: secrets come from env vars named by user_env/password_env", k)
		default:
			return c, badDSN(dsn, "unknown option %q: clickhouse takes secure, skip_verify, ca_file, cert_file, key_file, user_env, password_env, dial_timeout, max_open_conns, compress", k)
		}
	}
	return c, nil
}

func sortedKeys(v url.Values) []string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func validIdent(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func validEnvName(s string) bool { return validIdent(s) }
