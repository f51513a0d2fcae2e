package rate

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestObserve(t *testing.T) {
	tr := New()
	t0 := time.Unix(1000, 0)
	_, r := tr.Observe("a", 100, t0, W64)
	require.Equal(t, First, r)
	v, r := tr.Observe("a", 600, t0.Add(5*time.Second), W64)
	require.Equal(t, OK, r)
	require.Equal(t, 100.0, v)
	_, r = tr.Observe("a", 10, t0.Add(10*time.Second), W64)
	require.Equal(t, Reset, r, "a 64-bit counter going back is a reset")
	v, r = tr.Observe("a", 20, t0.Add(11*time.Second), W64)
	require.Equal(t, OK, r)
	require.Equal(t, 10.0, v)

	_, _ = tr.Observe("b", math.MaxUint32-99, t0, W32)
	v, r = tr.Observe("b", 100, t0.Add(2*time.Second), W32)
	require.Equal(t, Wrapped, r)
	require.Equal(t, 100.0, v) // 99 + 1 + 100 = 200 over 2 s
	_, r = tr.Observe("b", 5, t0.Add(3*time.Second), W32)
	require.Equal(t, Reset, r, "a drop from 100 to 5 is no plausible wrap")

	_, r = tr.Observe("b", 9, t0.Add(3*time.Second), W32)
	require.Equal(t, Stale, r)

	tr.Sweep()
	_, _ = tr.Observe("a", 1, t0, W64)
	tr.Sweep()
	require.Equal(t, 1, tr.Len(), "b was not observed since the last sweep")
}
