package fuse

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/schemas"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func res(layer string, score float64, reasons ...schemas.Reason) schemas.LayerResult {
	return schemas.LayerResult{Layer: layer, Score: &score, Reasons: reasons}
}

func abstain(layer, why string) schemas.LayerResult {
	return schemas.LayerResult{Layer: layer, Abstain: why}
}

func TestCombine(t *testing.T) {
	cfg := DefaultConfig()
	crit := schemas.Reason{ID: "r1", Title: "Setuid shell", Level: "critical", Score: 1, Tags: []string{"attack.t1548"}}
	tests := []struct {
		name     string
		in       []schemas.LayerResult
		score    float64
		severity schemas.Severity
	}{
		{"nothing present", []schemas.LayerResult{abstain("temporal", "warming up")}, 0, ""},
		{"one layer alone is its own score", []schemas.LayerResult{res("temporal", 0.6)}, 0.6, schemas.SeverityMedium},
		// abstaining iforest must not pull the mean down: renormalised over geometric+temporal
		{"abstain is not zero", []schemas.LayerResult{res("geometric", 0.4), res("temporal", 0.4), abstain("iforest", "no model")}, 0.4, schemas.SeverityLow},
		{"weighted mean", []schemas.LayerResult{res("geometric", 0.2), res("temporal", 0.4), res("iforest", 0)}, (0.5*0.2 + 0.25*0.4) / 1.0, ""},
		// agreement: wm = 0.6; noisy-OR = 1-0.4*0.4*0.4 = 0.936; bonus 0.5 -> 0.768
		{"agreement raises", []schemas.LayerResult{res("geometric", 0.6), res("temporal", 0.6), res("iforest", 0.6)}, 0.768, schemas.SeverityHigh},
		{"statistics alone stay below CRITICAL", []schemas.LayerResult{res("temporal", 0.99)}, 0.85, schemas.SeverityHigh},
		{"critical rule alone", []schemas.LayerResult{res("geometric", 0.5, crit)}, 0.95, schemas.SeverityCritical},
		{"a medium rule keeps MEDIUM against quiet stats", []schemas.LayerResult{res("geometric", 0.5, schemas.Reason{ID: "m", Level: "medium"}), res("temporal", 0.03)}, 0.5, schemas.SeverityMedium},
		{"a low rule is lowered by quiet stats", []schemas.LayerResult{res("geometric", 0.3, schemas.Reason{ID: "l", Level: "low"}), res("temporal", 0.0)}, 0.2, ""},
		{"critical rule with quiet stats", []schemas.LayerResult{res("geometric", 0.5, crit), res("temporal", 0.0), res("iforest", 0.1)}, 0.95, schemas.SeverityCritical},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := cfg.Combine(tc.in)
			require.InDelta(t, tc.score, sc.Score, 1e-6)
			require.Equal(t, tc.severity, sc.Severity)
			require.Len(t, sc.Breakdown, len(tc.in))
			var sum float64
			for _, b := range sc.Breakdown {
				if b.Score == nil {
					require.Zero(t, b.Weight)
					require.NotEmpty(t, b.Abstain)
				}
				sum += b.Contribution
			}
			if sc.Score > 0 {
				require.InDelta(t, sc.Score, sum, 1e-5, "contributions add up to the score")
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.Thresholds.High = 0.2
	c.MinScore = 2
	c.Weights["geometric"] = -1
	err := c.Validate()
	require.Error(t, err)
	for _, want := range []string{"thresholds", "min_score", "weights.geometric"} {
		require.Contains(t, err.Error(), want)
	}
}

func TestRescoreKeepsID(t *testing.T) {
	f, err := New(DefaultConfig())
	require.NoError(t, err)
	key := "proc:42@1700000000"
	// the rule fires at exec time
	a1, ok := f.Process(Input{Time: t0, Host: "h1", EntityKey: key, Entity: "/tmp/x", EntityKind: "process",
		EvidenceIDs: []string{"ev1"}, Layers: []schemas.LayerResult{res("geometric", 0.6, schemas.Reason{ID: "exe_in_tmp", Title: "Exe in /tmp", Score: 0.6})}})
	require.True(t, ok)
	require.Equal(t, schemas.SeverityMedium, a1.Severity)
	require.Len(t, a1.History, 1)
	// the window closes a minute later: temporal agrees, iforest abstains
	a2, ok := f.Process(Input{Time: t0.Add(time.Minute), Host: "h1", EntityKey: key, EvidenceIDs: []string{"fv1"},
		Layers: []schemas.LayerResult{res("temporal", 0.8, schemas.Reason{ID: "spike:cpu", Score: 0.8}), abstain("iforest", "no model")}})
	require.True(t, ok)
	require.Equal(t, a1.ID, a2.ID, "same entity and window keeps the id")
	require.EqualValues(t, 1, a2.Count, "a layer joining is a re-score, not a repeat")
	require.Greater(t, a2.Score, a1.Score)
	require.Len(t, a2.History, 2)
	require.Equal(t, "temporal", a2.History[1].Layer)
	require.Equal(t, []string{"ev1", "fv1"}, a2.EvidenceIDs)
	require.Len(t, a2.Layers, 3)
	require.Equal(t, t0, a2.FirstSeen)
	require.Equal(t, t0.Add(time.Minute), a2.LastSeen)
	require.Equal(t, "/tmp/x", a2.Entity)
	// a1 was a copy: later updates do not change it
	require.Len(t, a1.History, 1)

	// the same rule firing again on the entity is a repeat
	a2b, ok := f.Process(Input{Time: t0.Add(2 * time.Minute), Host: "h1", EntityKey: key,
		Layers: []schemas.LayerResult{res("geometric", 0.6, schemas.Reason{ID: "exe_in_tmp", Score: 0.6})}})
	require.True(t, ok)
	require.EqualValues(t, 2, a2b.Count)

	// after open_for in event time the entity starts a new alert
	a3, ok := f.Process(Input{Time: t0.Add(time.Hour), Host: "h1", EntityKey: key,
		Layers: []schemas.LayerResult{res("geometric", 0.6)}})
	require.True(t, ok)
	require.NotEqual(t, a1.ID, a3.ID)
}

func TestBelowMinScoreWaitsForAnotherLayer(t *testing.T) {
	f, err := New(DefaultConfig())
	require.NoError(t, err)
	_, ok := f.Process(Input{Time: t0, Host: "h", EntityKey: "host", Layers: []schemas.LayerResult{res("temporal", 0.2)}})
	require.False(t, ok)
	a, ok := f.Process(Input{Time: t0.Add(time.Second), Host: "h", EntityKey: "host", Layers: []schemas.LayerResult{res("iforest", 0.7)}})
	require.True(t, ok)
	require.InDelta(t, (0.25*0.2+0.25*0.7)/0.5, a.Score, 1e-6)
	require.Equal(t, t0, a.FirstSeen)
}

func TestDeterministicWhateverTheSplit(t *testing.T) {
	inputs := make([]Input, 0, 300)
	for i := range 300 {
		inputs = append(inputs, Input{Time: t0.Add(time.Duration(i) * 7 * time.Second), Host: "h",
			EntityKey: []string{"a", "b", "c"}[i%3], Layers: []schemas.LayerResult{res([]string{"geometric", "temporal", "iforest"}[i%3/1], float64(i%10)/10)}})
	}
	run := func() []schemas.AlertEvent {
		f, err := New(Config{OpenFor: time.Minute, MaxOpen: 2})
		require.NoError(t, err)
		var out []schemas.AlertEvent
		for _, in := range inputs {
			if a, ok := f.Process(in); ok {
				out = append(out, *a)
			}
		}
		return out
	}
	a, b := run(), run()
	require.NotEmpty(t, a)
	require.Equal(t, a, b)
}

func TestBoundedState(t *testing.T) {
	f, err := New(Config{MaxOpen: 100, OpenFor: time.Hour})
	require.NoError(t, err)
	for i := range 1000 {
		f.Process(Input{Time: t0, Host: "h", EntityKey: string(rune('a'+i%26)) + string(rune(i)), Layers: []schemas.LayerResult{res("temporal", 0.9)}})
	}
	require.Equal(t, 100, f.Open())
	ev, _ := f.Dropped()
	require.EqualValues(t, 900, ev)
	// event time moves past open_for: everything expires
	f.Process(Input{Time: t0.Add(2 * time.Hour), Host: "h", EntityKey: "z", Layers: []schemas.LayerResult{res("temporal", 0.9)}})
	require.Equal(t, 1, f.Open())
}
