package geometric

import (
	"bytes"
	"path/filepath"
	"runtime"
	"testing"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// The built-in rules pass their fixtures, and every built-in rule has a positive and a negative one.
func TestBuiltinRuleFixtures(t *testing.T) {
	rep, err := RunFixtures(filepath.Join(repoRoot(), "rules"), "")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	rep.Write(&buf)
	if rep.Failures() > 0 {
		t.Fatalf("fixtures failed:\n%s", buf.String())
	}
	if len(rep.Results) < 20 {
		t.Fatalf("only %d fixture cases", len(rep.Results))
	}
	t.Log(buf.String())
}
