package api

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzSQLBody: any body to /api/sql gets a JSON answer with a 4xx/5xx status (no warehouse is
// attached, so nothing reaches an engine), never a panic or a 2xx.
func FuzzSQLBody(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `{"query":"SELECT 1"}`, `{"query":"DROP TABLE x"}`, `{"query":"SELECT 1","format":"tsv"}`,
		`{"query":"WITH x AS (SELECT 1) SELECT * FROM x; DELETE FROM y"}`, `[1,2]`, `{"query":null}`,
		`{"query":"SELECT '\u0000'"}`, `{"query":"/* */ INSERT INTO t VALUES"}`, "\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	s, err := New(Deps{Config: fuzzConfig()}, testToken)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := do(t, s, "POST", "/api/sql", testToken, body)
		require.GreaterOrEqual(t, r.code, 400)
		var e ErrorBody
		require.NoError(t, json.Unmarshal(r.body, &e), "%s", r.body)
		require.Equal(t, r.code, e.Status)
		require.NotEmpty(t, e.Error)
	})
}
