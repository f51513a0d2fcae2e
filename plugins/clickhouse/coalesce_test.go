package clickhouse

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCoalescerGroups: batches that arrive while an INSERT runs go out together as the next
// INSERT, in arrival order, bounded by maxBytes; every caller gets its own group's result.
func TestCoalescerGroups(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var inserts []string
	c := &coalescer{maxBytes: 3, insert: func(_ context.Context, table string, data []byte) error {
		mu.Lock()
		inserts = append(inserts, table+":"+string(data))
		first := len(inserts) == 1
		mu.Unlock()
		if first {
			<-release // hold the first INSERT until the others queue up
		}
		if string(data) == "ef" {
			return errors.New("engine said no")
		}
		return nil
	}}
	errs := make([]error, 5)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); errs[0] = c.Insert(t.Context(), "t", []byte("a")) }()
	waitPending := func(n int) {
		require.Eventually(t, func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			q := c.tables["t"]
			return q != nil && len(q.pending) == n
		}, 5*time.Second, time.Millisecond)
	}
	waitPending(0) // "a" taken by the leader
	for i, d := range []string{"b", "cd", "ef", "gh"} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i+1] = c.Insert(t.Context(), "t", []byte(d)) }()
		waitPending(i + 1)
	}
	close(release)
	wg.Wait()
	require.Equal(t, []string{"t:a", "t:bcd", "t:ef", "t:gh"}, inserts)
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.NoError(t, errs[2])
	require.EqualError(t, errs[3], "engine said no")
	require.NoError(t, errs[4])
	c.mu.Lock()
	require.False(t, c.tables["t"].running, "the leader stops when nothing is pending")
	c.mu.Unlock()
}
