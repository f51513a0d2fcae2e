package iforest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/processors/window"
	"github.com/amoskys/amoskys/schemas"
)

// TestGoldenLayerResults: the layer results (scores, reasons, abstentions) on a fixed input are
// byte-identical to those of the code before the throughput work (the sha256 of their JSON in
// testdata/golden.txt was written by that code, and rewritten once, deliberately, when the forest
// became scikit-learn's forest for the seed: internal/iforest/compat_test.go): scored host windows
// with a spike, a vector of another key kind, one lacking a model feature, one with a NaN, one with
// fewer values than names, and a layer without a model. AMOSKYS_GOLDEN_UPDATE=1 rewrites the file
// (deliberate changes only).
func TestGoldenLayerResults(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "iforest.json")
	require.NoError(t, trainHostModel(t, "golden").Save(path))
	vs := hostVectors(t, hostEvents(9, t0.Add(24*time.Hour), 40, map[int]bool{7: true, 8: true, 30: true}))
	odd := func(f func(v *schemas.FeatureVector)) *schemas.FeatureVector {
		v := *vs[3]
		v.Names, v.Values = append([]string(nil), v.Names...), append([]float64(nil), v.Values...)
		f(&v)
		return &v
	}
	vs = append(vs,
		odd(func(v *schemas.FeatureVector) { v.KeyKind, v.Key, v.Entity = window.KindProcess, "proc:1@2", "cron" }),
		odd(func(v *schemas.FeatureVector) { v.Names[0] = "other" }),
		odd(func(v *schemas.FeatureVector) { v.Values[1] = math.NaN() }),
		odd(func(v *schemas.FeatureVector) { v.Values = v.Values[:2] }),
		odd(func(v *schemas.FeatureVector) { v.Entity = "web-1" }),
	)
	var got []string
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"default", Config{ModelPath: path}},
		{"top5raw", Config{ModelPath: path, TopFeatures: 5, MinShare: 0.01, Raw: true}},
		{"nomodel", Config{ModelPath: filepath.Join(dir, "absent", "iforest.json")}},
	} {
		l := NewLayer(c.cfg)
		h := sha256.New()
		scored, reasons := 0, 0
		for round := 0; round < 2; round++ { // twice: the cached column mappings and abstentions
			for _, v := range vs {
				r := l.Judge(v)
				b, err := json.Marshal(r) // the temporary directory (in the absent model's path) as $DIR
				require.NoError(t, err)
				b = bytes.ReplaceAll(b, []byte(dir), []byte("$DIR"))
				h.Write(append(b, '\n'))
				if r.Score != nil {
					scored++
				}
				reasons += len(r.Reasons)
			}
		}
		got = append(got, fmt.Sprintf("%s %d %d %d %s", c.name, 2*len(vs), scored, reasons, hex.EncodeToString(h.Sum(nil))))
	}
	gp := filepath.Join("testdata", "golden.txt")
	if os.Getenv("AMOSKYS_GOLDEN_UPDATE") == "1" {
		require.NoError(t, os.WriteFile(gp, []byte(strings.Join(got, "\n")+"\n"), 0o644))
	}
	want, err := os.ReadFile(gp)
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(want)), strings.Join(got, "\n"), "config, vectors, scored, reasons, sha256 of the results' JSON")
}
