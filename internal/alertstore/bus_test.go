package alertstore

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/plugins/bus"
	"github.com/amoskys/amoskys/schemas"
)

func TestFollowBusFeedsIndexAndHub(t *testing.T) {
	b, err := bus.Open("gochannel://alertstore-test")
	require.NoError(t, err)
	defer b.Close()
	hub := NewHub()
	s := NewStore(nil, 100, hub)
	sub := hub.Subscribe(8)
	defer sub.Cancel()
	var errs []error
	require.NoError(t, s.FollowBus(t.Context(), b, "api", func(err error) { errs = append(errs, err) }))

	a1, a2 := mk(1, "h1", schemas.SeverityHigh), mk(2, "h2", schemas.SeverityLow)
	j1, _ := json.Marshal(a1)
	j2, _ := json.Marshal(a2)
	require.NoError(t, b.Publisher().Publish(AlertsTopic, bus.Pack([]bus.Record{{Payload: j1}, {Payload: []byte("{bad")}, {Payload: j2}})))
	got := map[string]bool{}
	for range 2 {
		select {
		case a := <-sub.C:
			got[a.ID] = true
		case <-time.After(10 * time.Second):
			t.Fatal("no alert from the bus")
		}
	}
	require.Equal(t, map[string]bool{"a00001": true, "a00002": true}, got)
	require.Equal(t, 2, s.Index.Len())
	// the same version again (the in-process hub already had it) is not published twice
	require.False(t, s.Ingest(a1))
	up := *a1
	up.Version = 2
	require.True(t, s.Ingest(&up))
}
