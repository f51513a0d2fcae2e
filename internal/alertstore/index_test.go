package alertstore

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/schemas"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func mk(i int, host string, sev schemas.Severity) *schemas.AlertEvent {
	s := 0.5
	at := t0.Add(time.Duration(i) * time.Second)
	return &schemas.AlertEvent{SchemaVersion: 1, ID: fmt.Sprintf("a%05d", i), Time: at, Host: host, EntityKind: "process",
		Entity: fmt.Sprintf("/usr/bin/p%d", i%3), Title: "t", Severity: sev, Score: 0.5, Count: 1, Version: 1,
		FirstSeen: at, LastSeen: at, Status: schemas.StatusOpen,
		Layers: []schemas.LayerBreakdown{{Layer: "temporal", Score: &s, Weight: 1, Contribution: 0.5}}}
}

func ids(t *testing.T, raws []json.RawMessage) []string {
	var out []string
	for _, r := range raws {
		var a schemas.AlertEvent
		require.NoError(t, json.Unmarshal(r, &a))
		out = append(out, a.ID)
	}
	return out
}

func TestIndexOrderUpdatesAndPages(t *testing.T) {
	s := NewStore(nil, 100, NewHub())
	for i := range 10 {
		s.Index.Put(mk(i, []string{"h1", "h2"}[i%2], []schemas.Severity{schemas.SeverityLow, schemas.SeverityHigh}[i%2]))
	}
	// an update of a0 moves it to the top; an older version does not win
	up := mk(0, "h1", schemas.SeverityCritical)
	up.Time, up.Version = t0.Add(time.Hour), 2
	s.Index.Put(up)
	stale := mk(0, "h1", schemas.SeverityLow)
	s.Index.Put(stale)
	require.Equal(t, 10, s.Index.Len())

	page, next, err := s.Recent(t.Context(), Filter{Limit: 3})
	require.NoError(t, err)
	require.Equal(t, []string{"a00000", "a00009", "a00008"}, ids(t, page))
	require.NotNil(t, next)
	page, next, err = s.Recent(t.Context(), Filter{Limit: 3, Cursor: next})
	require.NoError(t, err)
	require.Equal(t, []string{"a00007", "a00006", "a00005"}, ids(t, page))
	page, _, err = s.Recent(t.Context(), Filter{Limit: 10, Host: "h2", Severities: []schemas.Severity{schemas.SeverityHigh}})
	require.NoError(t, err)
	require.Equal(t, []string{"a00009", "a00007", "a00005", "a00003", "a00001"}, ids(t, page))
	page, next, err = s.Recent(t.Context(), Filter{Limit: 10, Since: t0.Add(3 * time.Second), Until: t0.Add(6 * time.Second), Process: "p1"})
	require.NoError(t, err)
	require.Equal(t, []string{"a00004"}, ids(t, page))
	require.Nil(t, next)
}

func TestIndexBounded(t *testing.T) {
	x := NewIndex(100)
	for i := range 1000 {
		x.Put(mk(i, "h", schemas.SeverityLow))
	}
	require.Equal(t, 100, x.Len())
	require.True(t, x.Truncated())
	o, _ := x.Oldest()
	require.Equal(t, "a00900", o.ID)
	_, ok := x.Get("a00001")
	require.False(t, ok)
	after := x.After(Cursor{Time: t0.Add(997 * time.Second), ID: "a00997"}, 10)
	require.Len(t, after, 2)
	require.Equal(t, "a00998", after[0].Alert.ID)
	page := x.Recent(&Filter{Limit: 5, Host: "nobody"})
	require.Empty(t, page.Entries)
	require.True(t, page.Exhausted, "a truncated index sends the caller to the store")
}

func TestStatusThroughStoreReachesHub(t *testing.T) {
	hub := NewHub()
	s := NewStore(nil, 10, hub)
	s.Index.Put(mk(1, "h", schemas.SeverityHigh))
	var got StatusChange
	defer hub.OnStatus(func(c StatusChange) { got = c })()
	sub := hub.Subscribe(4)
	defer sub.Cancel()
	a, err := s.SetStatus(t.Context(), "a00001", schemas.StatusAcknowledged, "ana", t0)
	require.NoError(t, err)
	require.Equal(t, schemas.StatusAcknowledged, a.Status)
	require.EqualValues(t, 2, a.Version)
	require.Equal(t, "ana", got.By)
	require.Equal(t, "a00001", (<-sub.C).ID)
	_, err = s.SetStatus(t.Context(), "nope", schemas.StatusResolved, "ana", t0)
	require.ErrorIs(t, err, ErrNotFound)
	st, err := s.Stats(t.Context(), t0, t0.Add(time.Hour), time.Minute)
	require.NoError(t, err)
	require.EqualValues(t, 1, st.Total)
	require.EqualValues(t, 1, st.ByLayer["temporal"])
}

func TestHubDropsSlowSubscriber(t *testing.T) {
	h := NewHub()
	sub := h.Subscribe(1)
	h.Publish(mk(1, "h", schemas.SeverityLow))
	h.Publish(mk(2, "h", schemas.SeverityLow))
	require.EqualValues(t, 1, h.Dropped())
	_, ok := <-sub.C
	require.True(t, ok)
	_, ok = <-sub.C
	require.False(t, ok, "closed after falling behind")
	sub.Cancel()
}

func TestAttachedIndexMissesNothing(t *testing.T) {
	hub := NewHub()
	s := NewStore(nil, 10000, hub)
	detach := s.Attach()
	slow := hub.Subscribe(1) // a subscriber that falls behind is dropped; the index is not
	defer slow.Cancel()
	for i := range 5000 {
		hub.Publish(mk(i, "h", schemas.SeverityLow))
	}
	require.Equal(t, 5000, s.Index.Len())
	detach()
	hub.Publish(mk(5000, "h", schemas.SeverityLow))
	require.Equal(t, 5000, s.Index.Len())
}
