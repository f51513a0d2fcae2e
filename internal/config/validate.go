package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/plugins/warehouse"
)

type validator struct {
	d    *decoder
	c    *Config
	opts Options
}

// at returns the node where path was written, or the nearest written ancestor, or nil (1:1).
func (v *validator) errf(path, format string, args ...any) {
	line, col := 1, 1
	if n := v.node(path); n != nil {
		line, col = n.Line, n.Column
	}
	v.d.add(line, col, format, args...)
}

func (v *validator) node(path string) *nodeRef {
	for p := path; ; {
		if n, ok := v.d.pos[p]; ok {
			return &nodeRef{n.Line, n.Column}
		}
		if p == "" {
			return nil
		}
		if i := strings.LastIndexAny(p, ".["); i >= 0 {
			p = p[:i]
		} else {
			p = ""
		}
	}
}

// written reports whether path was given in the file (as opposed to defaulted).
func (v *validator) written(path string) bool { _, ok := v.d.pos[path]; return ok }

var (
	envNameRE      = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	hostIDRE       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)
	pipelineNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
)

func (v *validator) validate() {
	c := v.c
	if c.DataDir == "" {
		v.errf("data_dir", "data_dir must not be empty (default \"./data\")")
	} else if fi, err := os.Stat(c.Path(c.DataDir)); err == nil && !fi.IsDir() {
		v.errf("data_dir", "data_dir %q exists but is not a directory", c.DataDir)
	}
	if c.HostID != "" && !hostIDRE.MatchString(c.HostID) {
		v.errf("host_id", "host_id %q is not a valid host name (letters, digits, '.', '_', '-'; at most 253 characters; empty means the OS hostname)", c.HostID)
	}
	v.enum("role", c.Role, Roles)

	v.warehouse()
	v.bus()
	v.api()
	v.benthosHTTP()
	v.pipelines()

	if c.Models.Dir == "" {
		v.errf("models.dir", "models.dir must not be empty (default \"./models\")")
	} else if v.written("models.dir") {
		v.dirExists("models.dir", c.Models.Dir)
	}
	if c.Models.IForest != "" {
		v.fileExists("models.iforest", c.Models.IForest, "model file")
	}
	if c.Rules.Dir == "" {
		v.errf("rules.dir", "rules.dir must not be empty (default \"./rules\")")
	} else if v.written("rules.dir") {
		v.dirExists("rules.dir", c.Rules.Dir)
	}
	v.enum("log.level", c.Log.Level, LogLevels)
	v.enum("log.format", c.Log.Format, LogFormats)
}

func (v *validator) enum(path, val string, allowed []string) {
	if !slices.Contains(allowed, val) {
		v.errf(path, "%s %q is not one of %s", path, val, strings.Join(allowed, ", "))
	}
}

func (v *validator) fileExists(path, p, what string) bool {
	fi, err := os.Stat(v.c.Path(p))
	switch {
	case errors.Is(err, os.ErrNotExist):
		v.errf(path, "%s: %s %q does not exist", path, what, p)
	case err != nil:
		v.errf(path, "%s: cannot read %s %q: %v", path, what, p, errors.Unwrap(err))
	case fi.IsDir():
		v.errf(path, "%s: %s %q is a directory, not a file", path, what, p)
	default:
		return true
	}
	return false
}

func (v *validator) dirExists(path, p string) {
	fi, err := os.Stat(v.c.Path(p))
	switch {
	case errors.Is(err, os.ErrNotExist):
		v.errf(path, "%s: directory %q does not exist", path, p)
	case err != nil:
		v.errf(path, "%s: cannot read directory %q: %v", path, p, errors.Unwrap(err))
	case !fi.IsDir():
		v.errf(path, "%s: %q is not a directory", path, p)
	}
}

// envName checks that a *_env field names an environment variable. The value is never echoed:
// a misplaced secret must not end up in a terminal or a log.
func (v *validator) envName(path, val string, required bool) {
	if val == "" {
		if required {
			v.errf(path, "%s must name an environment variable (e.g. %s)", path, DefaultAPIToken)
		}
		return
	}
	if !envNameRE.MatchString(val) {
		v.errf(path, "%s must be the NAME of an environment variable (upper case letters, digits and '_', e.g. %s), not the secret itself; the value is not shown", path, DefaultAPIToken)
	}
}

func (v *validator) tls(path string, t TLSConfig, server bool) {
	if t.CAFile != "" {
		v.fileExists(path+".ca_file", t.CAFile, "CA file")
	}
	if t.CertFile != "" {
		v.fileExists(path+".cert_file", t.CertFile, "certificate file")
	}
	if t.KeyFile != "" {
		v.fileExists(path+".key_file", t.KeyFile, "key file")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		v.errf(path, "%s: cert_file and key_file go together: give both or neither", path)
	}
	if server && t.CAFile != "" && t.CertFile == "" {
		v.errf(path, "%s: ca_file (client certificates) needs cert_file and key_file for the server", path)
	}
}

func (v *validator) intRange(path string, val, lo, hi int, unit string) {
	if val < lo || val > hi {
		v.errf(path, "%s %d is out of range: %d..%d%s", path, val, lo, hi, unit)
	}
}

func (v *validator) durRange(path string, val Duration, lo, hi time.Duration) {
	if val.D() < lo || val.D() > hi {
		v.errf(path, "%s %s is out of range: %s..%s", path, val, Duration(lo), Duration(hi))
	}
}

func (v *validator) warehouse() {
	w := v.c.Warehouse
	scheme := v.dsn("warehouse.dsn", w.DSN, []string{"chdb", "clickhouse"})
	if w.LibCHDB != "" {
		v.fileExists("warehouse.libchdb", w.LibCHDB, "library")
	}
	v.durRange("warehouse.retention", w.Retention, MinRetention, MaxRetention)
	v.intRange("warehouse.batch_size", w.BatchSize, MinBatchSize, MaxBatchSize, " rows")
	v.envName("warehouse.username_env", w.UsernameEnv, false)
	v.envName("warehouse.password_env", w.PasswordEnv, false)
	v.tls("warehouse.tls", w.TLS, false)
	if scheme != "" {
		// The warehouse parses the DSN it is given too (options such as ?insert=, ?lib=).
		dsn := v.c.WarehouseDSN()
		if scheme == "chdb" {
			dsn = w.DSN // as written, so the message shows what the user wrote
		}
		if _, err := warehouse.ParseDSN(dsn); err != nil {
			v.errf("warehouse.dsn", "warehouse.dsn: %v", err)
		}
	}
	if scheme == "chdb" {
		for _, f := range []string{"username_env", "password_env", "tls"} {
			if v.written("warehouse." + f) {
				v.errf("warehouse."+f, "warehouse.%s applies to clickhouse:// servers only; the embedded chdb:// warehouse has no credentials or TLS", f)
			}
		}
	}
}

func (v *validator) bus() {
	scheme := v.dsn("bus.dsn", v.c.Bus.DSN, []string{"gochannel", "sqlite", "postgres", "postgresql"})
	v.intRange("bus.partitions", v.c.Bus.Partitions, 1, MaxPartitions, "")
	if scheme == "gochannel" && (v.c.Role == RoleAgent || v.c.Role == RoleDetect) {
		at := "role"
		if v.written("bus.dsn") {
			at = "bus.dsn"
		}
		v.errf(at, "role %q runs part of the pipeline and needs a bus other processes can reach (sqlite://FILE or postgres://HOST/DB); gochannel:// only connects pipelines inside one process", v.c.Role)
	}
}

// dsn checks a DSN of one of the allowed schemes and returns its scheme ("" when invalid).
// DSNs are never echoed whole: they may carry credentials.
func (v *validator) dsn(path, dsn string, allowed []string) string {
	if dsn == "" {
		v.errf(path, "%s must not be empty (schemes: %s)", path, schemesList(allowed))
		return ""
	}
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		v.errf(path, "%s has no scheme: want one of %s", path, schemesList(allowed))
		return ""
	}
	if !slices.Contains(allowed, scheme) {
		v.errf(path, "%s scheme %q is not supported here: want one of %s", path, scheme, schemesList(allowed))
		return ""
	}
	switch scheme {
	case "chdb":
		dir, _, _ := strings.Cut(rest, "?")
		if dir == "" {
			v.errf(path, "%s: chdb:// needs a directory path, e.g. chdb://./data/warehouse", path)
			return ""
		}
		if fi, err := os.Stat(v.c.Path(dir)); err == nil && !fi.IsDir() {
			v.errf(path, "%s: chdb directory %q exists but is not a directory", path, dir)
			return ""
		}
	case "sqlite":
		p, _, _ := strings.Cut(rest, "?")
		if p == "" {
			v.errf(path, "%s: sqlite:// needs a file path, e.g. sqlite://./data/bus.db", path)
			return ""
		}
		if dir := filepath.Dir(v.c.Path(p)); dir != "" {
			if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
				v.errf(path, "%s: %q is not a directory", path, filepath.Dir(p))
				return ""
			}
		}
	case "gochannel":
		if rest != "" && !regexp.MustCompile(`^[A-Za-z0-9_.-]*$`).MatchString(rest) {
			v.errf(path, "%s: gochannel:// takes at most a name (letters, digits, '_', '.', '-')", path)
			return ""
		}
	case "clickhouse", "postgres", "postgresql":
		u, err := url.Parse(dsn)
		if err != nil {
			v.errf(path, "%s is not a valid URL: %s", path, redactURLError(err))
			return ""
		}
		if u.Host == "" {
			v.errf(path, "%s: %s:// needs a host, e.g. %s", path, scheme, exampleDSN(scheme))
			return ""
		}
		for _, hp := range strings.Split(u.Host, ",") { // clickhouse:// may list several replicas
			host, port := hp, ""
			if h, p, err := net.SplitHostPort(hp); err == nil {
				host, port = h, p
			}
			if host == "" {
				v.errf(path, "%s: %s:// needs a host, e.g. %s", path, scheme, exampleDSN(scheme))
				return ""
			}
			if port != "" {
				if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
					v.errf(path, "%s: port %q is out of range: 1..65535", path, port)
					return ""
				}
			}
		}
		if _, hasPw := u.User.Password(); hasPw {
			if scheme == "clickhouse" {
				v.errf(path, "%s must not carry a password: name the environment variable in warehouse.password_env", path)
			} else {
				v.errf(path, "%s must not carry a password: set it in the PGPASSWORD environment variable", path)
			}
			return ""
		}
		if scheme == "clickhouse" && strings.Count(strings.Trim(u.Path, "/"), "/") > 0 {
			v.errf(path, "%s: the path names one database, e.g. %s", path, exampleDSN(scheme))
			return ""
		}
	}
	return scheme
}

func redactURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "unparsable"
}

func exampleDSN(scheme string) string {
	switch scheme {
	case "clickhouse":
		return "clickhouse://clickhouse:9000/amoskys"
	default:
		return scheme + "://amoskys@postgres:5432/amoskys"
	}
}

func schemesList(s []string) string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = x + "://"
	}
	return strings.Join(out, ", ")
}

// listen parses HOST:PORT and returns host and port (port 0 when invalid).
func (v *validator) listen(path, addr string) (string, int) {
	host, portS, err := net.SplitHostPort(addr)
	if err != nil {
		v.errf(path, "%s %q is not HOST:PORT (e.g. 127.0.0.1:8080)", path, addr)
		return "", 0
	}
	port, err := strconv.Atoi(portS)
	if err != nil || port < 1 || port > 65535 {
		v.errf(path, "%s port %q is out of range: 1..65535", path, portS)
		return "", 0
	}
	if host != "" && net.ParseIP(host) == nil && !hostIDRE.MatchString(host) {
		v.errf(path, "%s host %q is neither an IP address nor a host name", path, host)
		return "", 0
	}
	return host, port
}

func (v *validator) api() {
	a := v.c.API
	v.listen("api.listen", a.Listen)
	v.envName("api.token_env", a.TokenEnv, true)
	v.tls("api.tls", a.TLS, true)
	v.intRange("api.sql_max_rows", a.SQLMaxRows, MinSQLMaxRows, MaxSQLMaxRows, " rows")
	v.intRange("api.sql_max_bytes", a.SQLMaxBytes, MinSQLMaxBytes, MaxSQLMaxBytes, " bytes")
	v.durRange("api.sql_timeout", a.SQLTimeout, MinSQLTimeout, MaxSQLTimeout)
}

func (v *validator) benthosHTTP() {
	b := v.c.BenthosHTTP
	bHost, bPort := v.listen("benthos_http.listen", b.Listen)
	if !b.Enabled || !v.c.API.Enabled || bPort == 0 {
		return
	}
	aHost, aPort, err := net.SplitHostPort(v.c.API.Listen)
	if err != nil || strconv.Itoa(bPort) != aPort {
		return
	}
	if sameInterface(aHost, bHost) {
		v.errf("benthos_http.listen", "benthos_http.listen %q clashes with api.listen %q: both use port %d", b.Listen, v.c.API.Listen, bPort)
	}
}

func sameInterface(a, b string) bool {
	norm := func(h string) string {
		switch h {
		case "", "0.0.0.0", "::", "[::]":
			return "*"
		case "localhost", "::1":
			return "127.0.0.1"
		}
		return h
	}
	a, b = norm(a), norm(b)
	return a == b || a == "*" || b == "*"
}

func (v *validator) pipelines() {
	names := map[string]int{}
	for i, p := range v.c.Pipelines {
		base := fmt.Sprintf("pipelines[%d]", i)
		if p.Name == "" {
			v.errf(base+".name", "%s.name is missing: every pipeline needs a name", base)
		} else if !pipelineNameRE.MatchString(p.Name) {
			v.errf(base+".name", "%s.name %q must be snake_case (a-z, 0-9, '_', starting with a letter)", base, p.Name)
		} else if j, dup := names[p.Name]; dup {
			v.errf(base+".name", "%s.name %q is already used by pipelines[%d]", base, p.Name, j)
		} else {
			names[p.Name] = i
		}
		if p.File == "" {
			v.errf(base+".file", "%s.file is missing: the path of a Benthos stream config", base)
			continue
		}
		if !v.fileExists(base+".file", p.File, "pipeline file") || v.opts.SkipPipelineLint {
			continue
		}
		v.lintPipeline(base, p)
	}
}

// lintPipeline lints a pipeline file with Benthos, reporting each lint at its place in that file.
func (v *validator) lintPipeline(base string, p Pipeline) {
	path := v.c.Path(p.File)
	data, err := os.ReadFile(path)
	if err != nil {
		v.errf(base+".file", "%s.file: cannot read %q: %v", base, p.File, errors.Unwrap(err))
		return
	}
	shown := filepath.Join(filepath.Dir(v.c.File), p.File)
	if filepath.IsAbs(p.File) {
		shown = p.File
	}
	env := v.opts.Env
	if env == nil {
		env = service.NewEnvironment()
	}
	exported := v.c.Env()
	sb := env.NewStreamBuilder()
	sb.SetEnvVarLookupFunc(func(k string) (string, bool) {
		if val, ok := exported[k]; ok {
			return val, true
		}
		return v.opts.LookupEnv(k)
	})
	err = sb.SetYAML(string(data))
	if err == nil {
		return
	}
	var lints service.LintError
	var lint service.Lint
	switch {
	case errors.As(err, &lints):
		for _, l := range lints {
			v.d.errs = append(v.d.errs, lintErr(shown, l, p.Name, data))
		}
	case errors.As(err, &lint):
		v.d.errs = append(v.d.errs, lintErr(shown, lint, p.Name, data))
	default:
		msg := err.Error()
		line := 1
		if m := regexp.MustCompile(`^yaml: line (\d+): (.*)$`).FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = "invalid YAML: " + m[2]
		}
		v.d.errs = append(v.d.errs, Error{File: shown, Line: line, Col: 1, Msg: fmt.Sprintf("%s (pipeline %q)", msg, p.Name)})
	}
}

// lintErr places a Benthos lint in its file. Benthos gives lines but rarely columns: then the
// column is where that line's content starts (the key the lint is about).
func lintErr(file string, l service.Lint, name string, data []byte) Error {
	line, col := l.Line, l.Column
	if line < 1 {
		line = 1
	}
	if col <= 1 { // Benthos reports column 1 (or 0) when it does not know
		col = 1
		if lines := strings.Split(string(data), "\n"); line <= len(lines) {
			col += len(lines[line-1]) - len(strings.TrimLeft(lines[line-1], " \t"))
		}
	}
	return Error{File: file, Line: line, Col: col, Msg: fmt.Sprintf("%s (pipeline %q)", l.What, name)}
}

type nodeRef struct{ Line, Column int }
