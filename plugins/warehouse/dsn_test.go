package warehouse

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseDSN(t *testing.T) {
	abs, _ := filepath.Abs("./data/warehouse")
	c, err := ParseDSN("chdb://./data/warehouse")
	require.NoError(t, err)
	require.Equal(t, Config{Scheme: "chdb", Path: abs, InsertWith: InsertRowBinaryFile, TmpDir: defaultTmpDir(), Conns: 2}, c)

	c, err = ParseDSN("chdb:///var/lib/amoskys?insert=tsv_file&tmp_dir=/tmp&lib=/opt/libchdb.so")
	require.NoError(t, err)
	require.Equal(t, "/var/lib/amoskys", c.Path)
	require.Equal(t, InsertTSVFile, c.InsertWith)
	require.Equal(t, "/opt/libchdb.so", c.Lib)

	c, err = ParseDSN("clickhouse://ch1:9440,ch2/telemetry?secure=true&user_env=CH_USER&password_env=CH_PASS&dial_timeout=2s&max_open_conns=8&compress=zstd")
	require.NoError(t, err)
	require.Equal(t, []string{"ch1:9440", "ch2:9000"}, c.Hosts)
	require.Equal(t, "telemetry", c.Database)
	require.True(t, c.Secure)
	require.Equal(t, "CH_USER", c.UserEnv)
	require.Equal(t, "CH_PASS", c.PasswordEnv)
	require.Equal(t, 2*time.Second, c.DialTimeout)
	require.Equal(t, 8, c.MaxOpenConns)
	require.Equal(t, "clickhouse://ch1:9440,ch2:9000/telemetry?secure=true", c.Redacted())

	c, err = ParseDSN("clickhouse://localhost:9000")
	require.NoError(t, err)
	require.Equal(t, "default", c.Database)
	require.Equal(t, DefaultUserEnv, c.UserEnv)
}

func TestParseDSNErrors(t *testing.T) {
	cases := map[string]string{
		"":                                        "want chdb://PATH or clickhouse://HOST:PORT/DB",
		"/data/warehouse":                         "want chdb://PATH",
		"mysql://x":                               `unknown scheme "mysql"`,
		"chdb://":                                 "missing data directory",
		"chdb://x?insert=csv":                     `insert="csv": want rowbinary_file, tsv_file or tsv`,
		"chdb://x?foo=1":                          `unknown option "foo"`,
		"chdb://x?tmp_dir=":                       "tmp_dir is empty",
		"clickhouse://":                           "missing host",
		"clickhouse://u:secret@h:9000/db":         "credentials in the DSN are refused",
		"clickhouse://h:99999/db":                 "port",
		"clickhouse://h:0/db":                     "port",
		"clickhouse://h:9000/db-x":                `database "db-x"`,
		"clickhouse://h:9000/db?secure=maybe":     `secure="maybe"`,
		"clickhouse://h:9000/db?password=x":       `option "password" refused`,
		"clickhouse://h:9000/db?user_env=1X":      `user_env="1X"`,
		"clickhouse://h:9000/db?dial_timeout=-1":  "dial_timeout",
		"clickhouse://h:9000/db?max_open_conns=0": "max_open_conns",
		"clickhouse://h:9000/db?compress=gzip":    "compress",
		"clickhouse://h:9000/db?nope=1":           `unknown option "nope"`,
		"clickhouse://:9000/db":                   "empty host",
	}
	for dsn, want := range cases {
		_, err := ParseDSN(dsn)
		require.ErrorIs(t, err, ErrBadDSN, dsn)
		require.Contains(t, err.Error(), want, dsn)
		require.NotContains(t, err.Error(), "hunter2", "secrets never appear in errors")
	}
	// Open reports the same errors without touching any library.
	_, err := Open(context.Background(), "clickhouse://u:hunter2@h/db")
	require.ErrorIs(t, err, ErrBadDSN)
}

func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{"chdb://./x", "chdb:///a?insert=tsv", "clickhouse://h:1/db?secure=true", "clickhouse://a,b:2/x", "x://", "chdb://%zz", "clickhouse://[::1]:9000/db"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		c, err := ParseDSN(dsn)
		if err != nil {
			require.True(t, errors.Is(err, ErrBadDSN), "%v", err)
			return
		}
		switch c.Scheme {
		case SchemeCHDB:
			require.True(t, filepath.IsAbs(c.Path))
		case SchemeClickHouse:
			require.NotEmpty(t, c.Hosts)
			require.True(t, validIdent(c.Database))
			require.NotContains(t, c.Redacted(), "@")
		default:
			t.Fatalf("scheme %q", c.Scheme)
		}
	})
}

func TestServerOptions(t *testing.T) {
	c, err := ParseDSN("clickhouse://h:9440/db?secure=true&user_env=U&password_env=P")
	require.NoError(t, err)
	env := map[string]string{"U": "amoskys", "P": "s3cret"}
	o, err := ServerOptions(c, func(k string) string { return env[k] })
	require.NoError(t, err)
	require.Equal(t, "amoskys", o.Auth.Username)
	require.Equal(t, "s3cret", o.Auth.Password)
	require.Equal(t, "db", o.Auth.Database)
	require.NotNil(t, o.TLS)
	require.Equal(t, []string{"h:9440"}, o.Addr)

	c, _ = ParseDSN("clickhouse://h/db")
	o, err = ServerOptions(c, func(string) string { return "" })
	require.NoError(t, err)
	require.Nil(t, o.TLS)
	require.Equal(t, "default", o.Auth.Username)

	c, _ = ParseDSN("clickhouse://h/db?skip_verify=true")
	_, err = ServerOptions(c, func(string) string { return "" })
	require.ErrorContains(t, err, "need secure=true")
	c, _ = ParseDSN("clickhouse://h/db?secure=true&ca_file=/nonexistent/ca.pem")
	_, err = ServerOptions(c, func(string) string { return "" })
	require.ErrorContains(t, err, "ca_file")
}

func TestOpenServerUnreachable(t *testing.T) {
	// Port 1 on loopback refuses at once: a clear error, no panic, no hang.
	_, err := Open(t.Context(), "clickhouse://127.0.0.1:1/db?dial_timeout=1s")
	require.Error(t, err)
	require.Contains(t, err.Error(), "127.0.0.1:1")
}

func TestBuildBatch(t *testing.T) {
	types := map[string]string{"id": "String", "time": "DateTime64(6, 'UTC')", "port": "UInt16",
		"exit_code": "Nullable(Int32)", "scores": "Array(Nullable(Float64))", "labels": "Map(LowCardinality(String), String)",
		"names": "Array(LowCardinality(String))", "ok": "Bool"}
	cols := []string{"id", "time", "port", "exit_code", "scores", "labels", "names", "ok"}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	stmt, rows, err := BuildBatch("t", cols, types, [][]any{
		{"a", now, uint16(443), int32(3), []any{0.5, nil}, map[string]string{"k": "v"}, []string{"x"}, true},
		{"b", time.Time{}, uint16(0), nil, []any{}, map[string]string{}, []string{}, false},
	})
	require.NoError(t, err)
	require.Equal(t, "INSERT INTO `t` (`id`, `time`, `port`, `exit_code`, `scores`, `labels`, `names`, `ok`)", stmt)
	require.Len(t, rows, 2)
	ec, ok := rows[0][3].(*int32)
	require.True(t, ok)
	require.Equal(t, int32(3), *ec)
	sc, ok := rows[0][4].([]*float64)
	require.True(t, ok)
	require.Equal(t, 0.5, *sc[0])
	require.Nil(t, sc[1])
	require.Nil(t, rows[1][3])
	require.Equal(t, time.Unix(0, 0).UTC(), rows[1][1])

	bad := []struct {
		row  []any
		want string
	}{
		{[]any{"a", now, 70000, nil, []any{}, map[string]string{}, []string{}, true}, "column port"},
		{[]any{"a", "yesterday", uint16(1), nil, []any{}, map[string]string{}, []string{}, true}, "column time"},
		{[]any{nil, now, uint16(1), nil, []any{}, map[string]string{}, []string{}, true}, "NULL in non-nullable"},
		{[]any{"a", now}, "2 values for 8 columns"},
		{[]any{"a", now, uint16(1), nil, []any{"x"}, map[string]string{}, []string{}, true}, "column scores"},
		{[]any{"a", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), uint16(1), nil, []any{}, map[string]string{}, []string{}, true}, "outside 1970..2261"},
	}
	for _, b := range bad {
		_, _, err := BuildBatch("t", cols, types, [][]any{b.row})
		var re *RowError
		require.ErrorAs(t, err, &re, b.want)
		require.Contains(t, err.Error(), b.want)
	}
	_, _, err = BuildBatch("t; DROP", cols, types, nil)
	require.Error(t, err)
	_, _, err = BuildBatch("t", []string{"nope"}, types, nil)
	require.ErrorContains(t, err, `no column "nope"`)
	_, _, err = BuildBatch("t", []string{"x"}, map[string]string{"x": "Decimal(10, 2)"}, nil)
	require.ErrorContains(t, err, "not supported")
	require.True(t, strings.HasPrefix(stmt, "INSERT INTO"))
}
