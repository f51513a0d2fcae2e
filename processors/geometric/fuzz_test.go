package geometric

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/amoskys/amoskys/schemas"
)

// Any event an outside producer can send is judged without a panic.
func FuzzJudge(f *testing.F) {
	e, err := New(Config{RuleDirs: []string{filepath.Join(repoRoot(), "rules")}})
	if err != nil {
		f.Fatal(err)
	}
	for _, ev := range benchEvents(20) {
		b, _ := json.Marshal(ev)
		f.Add(b)
	}
	b, _ := json.Marshal(shellUnderNginx())
	f.Add(b)
	f.Add([]byte(`{"kind":"process_exec"}`))
	f.Add([]byte(`{"kind":"listener","connection":{"action":"opened"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev schemas.TelemetryEvent
		if json.Unmarshal(data, &ev) != nil {
			return
		}
		if r, _, ok := e.Judge(&ev); ok && (r.Score == nil || *r.Score <= 0 || *r.Score > 1 || len(r.Reasons) == 0) {
			t.Fatalf("bad result %+v", r)
		}
	})
}
