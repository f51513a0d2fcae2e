package warehouse

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// The server backend assembles block formats from formatRow('JSONEachRow', ...) lines.
func TestRenderFromJSONRows(t *testing.T) {
	lines := []string{`{"host":"a","n":1}`, `{"host":"bb","n":22}`}
	out, err := renderFromJSONRows("PrettyCompactMonoBlock", []string{"host", "n"}, lines)
	require.NoError(t, err)
	require.Equal(t, "┌─host─┬─n──┐\n│ a    │ 1  │\n│ bb   │ 22 │\n└──────┴────┘\n", string(out))

	out, err = renderFromJSONRows("JSON", []string{"host", "n"}, lines)
	require.NoError(t, err)
	var doc struct {
		Meta []map[string]string
		Data []map[string]any
		Rows int
	}
	require.NoError(t, json.Unmarshal(out, &doc))
	require.Equal(t, 2, doc.Rows)
	require.Equal(t, "bb", doc.Data[1]["host"])
	require.Equal(t, "n", doc.Meta[1]["name"])

	_, err = renderFromJSONRows("JSON", []string{"x"}, []string{`{not json`})
	require.Error(t, err)
}
