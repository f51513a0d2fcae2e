// Package bustest is the conformance suite every bus backend passes: Watermill's universal
// pub/sub tests where they apply, and AMOSKYS' own (per-key order, consumer groups, redelivery on
// nack, at-least-once across close and reopen, concurrent publishers, the packed frame).
// Backends differ only by their declared Features.
package bustest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/plugins/bus"
)

// Features declares what a backend guarantees.
type Features struct {
	Durable        bool // messages survive closing every handle (sqlite, postgres)
	ConsumerGroups bool // readers in one group share messages, groups each see everything
	// Universal runs Watermill's tests.TestPubSub (needs a backend that keeps messages published
	// before a subscriber exists: the durable ones).
	Universal bool
}

// Backend is one bus implementation under test.
type Backend struct {
	Name string
	// DSN returns a DSN of an empty bus for one test.
	DSN      func(t *testing.T) string
	Features Features
}

const wait = 30 * time.Second

// Run runs the suite against backend.
func Run(t *testing.T, be Backend) {
	t.Run("publish_subscribe", func(t *testing.T) { testPublishSubscribe(t, be) })
	t.Run("order_per_key", func(t *testing.T) { testOrder(t, be) })
	t.Run("redelivery_on_nack", func(t *testing.T) { testNack(t, be) })
	t.Run("concurrent_publishers", func(t *testing.T) { testConcurrentPublishers(t, be) })
	t.Run("packed_frames", func(t *testing.T) { testPacked(t, be) })
	t.Run("shared_handle", func(t *testing.T) { testShared(t, be) })
	if be.Features.ConsumerGroups {
		t.Run("consumer_groups", func(t *testing.T) { testConsumerGroups(t, be) })
	}
	if be.Features.Durable {
		t.Run("at_least_once_across_reopen", func(t *testing.T) { testReopen(t, be) })
		t.Run("lag", func(t *testing.T) { testLag(t, be) })
		t.Run("prune_acked_only", func(t *testing.T) { testPrune(t, be) })
	}
	if be.Features.Universal {
		t.Run("watermill_universal", func(t *testing.T) { testUniversal(t, be) })
	}
}

func open(t *testing.T, dsn string) *bus.Bus {
	t.Helper()
	b, err := bus.Open(dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func subscribe(t *testing.T, b *bus.Bus, group, topic string) (<-chan *message.Message, message.Subscriber) {
	t.Helper()
	sub, err := b.Subscriber(group)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	ch, err := sub.Subscribe(t.Context(), topic)
	require.NoError(t, err)
	return ch, sub
}

// publishAsync publishes msgs in order from a goroutine (gochannel's Publish blocks until acked).
func publishAsync(t *testing.T, b *bus.Bus, topic string, msgs []*message.Message) <-chan error {
	done := make(chan error, 1)
	go func() {
		for _, m := range msgs {
			if err := b.Publisher().Publish(topic, m); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

func numbered(n int, key string) []*message.Message {
	out := make([]*message.Message, n)
	for i := range out {
		out[i] = message.NewMessage(watermill.NewUUID(), []byte(fmt.Sprintf(`{"host":%q,"n":%d}`, key, i)))
		out[i].Metadata.Set("n", strconv.Itoa(i))
		out[i].Metadata.Set("key", key)
	}
	return out
}

func receive(t *testing.T, ch <-chan *message.Message, n int, ack bool) []*message.Message {
	t.Helper()
	var got []*message.Message
	deadline := time.After(wait)
	for len(got) < n {
		select {
		case m, ok := <-ch:
			require.True(t, ok, "subscription closed after %d of %d", len(got), n)
			got = append(got, m)
			if ack {
				m.Ack()
			}
		case <-deadline:
			t.Fatalf("received %d of %d messages in %s", len(got), n, wait)
		}
	}
	return got
}

// receiveNoFail is receive for goroutines: it acks and returns what arrived in time.
func receiveNoFail(ch <-chan *message.Message, n int) []*message.Message {
	var got []*message.Message
	deadline := time.After(wait)
	for len(got) < n {
		select {
		case m, ok := <-ch:
			if !ok {
				return got
			}
			got = append(got, m)
			m.Ack()
		case <-deadline:
			return got
		}
	}
	return got
}

func topicName(t *testing.T) string { return "t" + watermill.NewShortUUID() }

func testPublishSubscribe(t *testing.T, be Backend) {
	b := open(t, be.DSN(t))
	topic := topicName(t)
	ch, _ := subscribe(t, b, "g", topic)
	msgs := numbered(50, "h1")
	done := publishAsync(t, b, topic, msgs)
	got := receive(t, ch, len(msgs), true)
	require.NoError(t, <-done)
	for i, m := range got {
		require.Equal(t, msgs[i].UUID, m.UUID)
		require.Equal(t, string(msgs[i].Payload), string(m.Payload))
		require.Equal(t, strconv.Itoa(i), m.Metadata.Get("n"))
	}
}

func testOrder(t *testing.T, be Backend) {
	b := open(t, be.DSN(t))
	topic := topicName(t)
	ch, _ := subscribe(t, b, "g", topic)
	var done []<-chan error
	keys := []string{"a", "b", "c"}
	for _, k := range keys {
		done = append(done, publishAsync(t, b, topic, numbered(40, k)))
	}
	got := receive(t, ch, 40*len(keys), true)
	for _, d := range done {
		require.NoError(t, <-d)
	}
	next := map[string]int{}
	for _, m := range got {
		k := m.Metadata.Get("key")
		require.Equal(t, strconv.Itoa(next[k]), m.Metadata.Get("n"), "key %s out of order", k)
		next[k]++
	}
}

func testNack(t *testing.T, be Backend) {
	b := open(t, be.DSN(t))
	topic := topicName(t)
	ch, _ := subscribe(t, b, "g", topic)
	msgs := numbered(3, "h")
	done := publishAsync(t, b, topic, msgs)
	first := receive(t, ch, 1, false)[0]
	require.Equal(t, msgs[0].UUID, first.UUID)
	first.Nack()
	again := receive(t, ch, 1, true)[0]
	require.Equal(t, msgs[0].UUID, again.UUID, "a nacked message comes back before the next")
	rest := receive(t, ch, 2, true)
	require.Equal(t, msgs[1].UUID, rest[0].UUID)
	require.Equal(t, msgs[2].UUID, rest[1].UUID)
	require.NoError(t, <-done)
}

func testConcurrentPublishers(t *testing.T, be Backend) {
	b := open(t, be.DSN(t))
	topic := topicName(t)
	ch, _ := subscribe(t, b, "g", topic)
	const pubs, per = 4, 25
	var all []<-chan error
	for p := 0; p < pubs; p++ {
		all = append(all, publishAsync(t, b, topic, numbered(per, "p"+strconv.Itoa(p))))
	}
	got := receive(t, ch, pubs*per, true)
	for _, d := range all {
		require.NoError(t, <-d)
	}
	seen := map[string]bool{}
	for _, m := range got {
		require.False(t, seen[m.UUID], "duplicate %s", m.UUID)
		seen[m.UUID] = true
	}
	require.Len(t, seen, pubs*per)
}

func testPacked(t *testing.T, be Backend) {
	b := open(t, be.DSN(t))
	topic := topicName(t)
	ch, _ := subscribe(t, b, "g", topic)
	recs := []bus.Record{
		{Payload: []byte(`{"id":"1"}`), Metadata: map[string]string{"amoskys_type": "telemetry"}},
		{Payload: []byte("{broken"), Metadata: map[string]string{"amoskys_type": "telemetry"}},
		{Payload: []byte(`{"id":"3"}`)},
	}
	done := publishAsync(t, b, topic, []*message.Message{bus.Pack(recs)})
	m := receive(t, ch, 1, true)[0]
	require.NoError(t, <-done)
	out, err := bus.Unpack(m)
	require.NoError(t, err)
	require.Len(t, out, 3)
	for i := range recs {
		require.Equal(t, string(recs[i].Payload), string(out[i].Payload))
	}
	require.Equal(t, "telemetry", out[1].Metadata["amoskys_type"])
}

func testShared(t *testing.T, be Backend) {
	dsn := be.DSN(t)
	b1 := open(t, dsn)
	b2, err := bus.Open(dsn)
	require.NoError(t, err)
	require.Same(t, b1, b2, "one handle per DSN in a process")
	require.NoError(t, b2.Close())
	// b1 still works after one holder closed.
	topic := topicName(t)
	ch, _ := subscribe(t, b1, "g", topic)
	done := publishAsync(t, b1, topic, numbered(1, "h"))
	receive(t, ch, 1, true)
	require.NoError(t, <-done)
}

func testConsumerGroups(t *testing.T, be Backend) {
	b := open(t, be.DSN(t))
	topic := topicName(t)
	const n = 30
	// Groups a and b each see every message.
	chA, subA := subscribe(t, b, "a", topic)
	chB, subB := subscribe(t, b, "b", topic)
	require.NoError(t, <-publishAsync(t, b, topic, numbered(n, "h")))
	// Read both at once: on PostgreSQL a reader's open batch transaction hides rows committed after
	// it started from every reader of the database until it commits.
	var gotA []*message.Message
	doneA := make(chan struct{})
	go func() { defer close(doneA); gotA = receiveNoFail(chA, n) }()
	gotB := receive(t, chB, n, true)
	<-doneA
	require.Len(t, gotA, n)
	require.Equal(t, gotA[n-1].UUID, gotB[n-1].UUID)
	// A reader that stops reading must close: its pending batch would hold back the others.
	require.NoError(t, subA.Close())
	require.NoError(t, subB.Close())
	// Group c: a reader takes the first n and stops; the next reader of the group goes on from
	// the group's offset. (Two readers of one group on one topic at once are not relied on: on
	// PostgreSQL they can starve each other; the detector gives each worker its own partitions.)
	c1 := mustSubT(t, b, "c", topic)
	first := map[string]bool{}
	for _, m := range receive(t, c1.ch, n, true) {
		first[m.UUID] = true
	}
	require.NoError(t, c1.sub.Close())
	msgs := numbered(n, "h")
	require.NoError(t, <-publishAsync(t, b, topic, msgs))
	c2, _ := subscribe(t, b, "c", topic)
	// At-least-once: an ack still in flight when c1 closed may be redelivered to c2 (a
	// duplicate of the first batch, at most once each); after those the group goes on at its
	// offset, with every new message in order and none of the first batch skipped past it.
	var got []*message.Message
	redelivered := 0
	for len(got) < n {
		m := receive(t, c2, 1, true)[0]
		if first[m.UUID] {
			redelivered++
			require.Empty(t, got, "a redelivery came after new messages")
			require.LessOrEqual(t, redelivered, n, "more redeliveries than messages")
			continue
		}
		got = append(got, m)
	}
	for i := range msgs {
		require.Equal(t, msgs[i].UUID, got[i].UUID, "group c resumes at its offset")
	}
}

func mustSubT(t *testing.T, b *bus.Bus, group, topic string) subscription {
	t.Helper()
	s, err := mustSub(b, group, topic)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.sub.Close() })
	return s
}

func testReopen(t *testing.T, be Backend) {
	dsn := be.DSN(t)
	topic := topicName(t)
	const n, first = 20, 7
	msgs := numbered(n, "h")
	b, err := bus.Open(dsn)
	require.NoError(t, err)
	ch, err := mustSub(b, "g", topic)
	require.NoError(t, err)
	require.NoError(t, <-publishAsync(t, b, topic, msgs))
	got := receive(t, ch.ch, first, true)
	// One more delivered and never acked: it must come back after the reopen.
	unacked := receive(t, ch.ch, 1, false)[0]
	require.Equal(t, msgs[first].UUID, unacked.UUID)
	require.NoError(t, ch.sub.Close())
	require.NoError(t, b.Close())

	b = open(t, dsn)
	ch2, _ := subscribe(t, b, "g", topic)
	rest := receive(t, ch2, n-first, true)
	require.Equal(t, msgs[first].UUID, rest[0].UUID, "the unacked message is redelivered first")
	ids := map[string]bool{}
	for _, m := range append(got, rest...) {
		ids[m.UUID] = true
	}
	require.Len(t, ids, n)
}

type subscription struct {
	sub message.Subscriber
	ch  <-chan *message.Message
}

func mustSub(b *bus.Bus, group, topic string) (subscription, error) {
	sub, err := b.Subscriber(group)
	if err != nil {
		return subscription{}, err
	}
	ch, err := sub.Subscribe(context.Background(), topic)
	return subscription{sub, ch}, err
}

// readAll reads n messages in group, acks them, waits until the bus has the acks, and closes.
func readAll(t *testing.T, b *bus.Bus, group, topic string, n int) []*message.Message {
	t.Helper()
	s := mustSubT(t, b, group, topic)
	got := receive(t, s.ch, n, true)
	require.Eventually(t, func() bool {
		lag, err := b.Lag(t.Context(), topic, group)
		return err == nil && lag == 0
	}, wait, 20*time.Millisecond, "group %s acked everything", group)
	require.NoError(t, s.sub.Close())
	return got
}

// testPrune: retention deletes only what every consumer group acked, and only when old enough;
// a group behind the others still gets everything it has not acked, exactly once.
func testPrune(t *testing.T, be Backend) {
	b := open(t, be.DSN(t))
	topic := topicName(t)
	require.NoError(t, b.Publisher().Publish(topic, numbered(3, "h")...))
	n, err := b.Prune(t.Context(), topic, 0)
	require.NoError(t, err)
	require.Zero(t, n, "nobody has read the topic: everything is kept")

	readAll(t, b, "g", topic, 3)
	readAll(t, b, "h", topic, 3)
	later := numbered(2, "h")
	require.NoError(t, b.Publisher().Publish(topic, later...))
	readAll(t, b, "g", topic, 2) // h is now 2 behind

	n, err = b.Prune(t.Context(), topic, time.Hour)
	require.NoError(t, err)
	require.Zero(t, n, "nothing is older than the retention")
	n, err = b.Prune(t.Context(), topic, 0)
	require.NoError(t, err)
	require.EqualValues(t, 3, n, "the 3 messages both groups acked are pruned, the 2 h has not are kept")
	lag, err := b.Lag(t.Context(), topic, "h")
	require.NoError(t, err)
	require.EqualValues(t, 2, lag)

	got := readAll(t, b, "h", topic, 2)
	require.Equal(t, later[0].UUID, got[0].UUID)
	require.Equal(t, later[1].UUID, got[1].UUID)
	n, err = b.Prune(t.Context(), topic, 0)
	require.NoError(t, err)
	require.EqualValues(t, 2, n, "acked by both groups now")
	lag, err = b.Lag(t.Context(), topic, "g")
	require.NoError(t, err)
	require.Zero(t, lag, "pruning does not make acked messages pending again")
}

func testLag(t *testing.T, be Backend) {
	b := open(t, be.DSN(t))
	topic := topicName(t)
	n, err := b.Lag(t.Context(), topic, "g")
	require.NoError(t, err)
	require.Zero(t, n, "no table yet: no lag")
	recs := make([]bus.Record, 10)
	for i := range recs {
		recs[i] = bus.Record{Payload: []byte("{}")}
	}
	require.NoError(t, b.Publisher().Publish(topic, bus.Pack(recs), bus.Pack(recs[:5])))
	require.NoError(t, b.Publisher().Publish(topic, message.NewMessage(watermill.NewUUID(), []byte("{}"))))
	n, err = b.Lag(t.Context(), topic, "g")
	require.NoError(t, err)
	require.EqualValues(t, 16, n, "lag counts events, not bus messages")
	ch, _ := subscribe(t, b, "g", topic)
	receive(t, ch, 3, true)
	require.Eventually(t, func() bool {
		n, err = b.Lag(t.Context(), topic, "g")
		return err == nil && n == 0
	}, wait, 20*time.Millisecond, "lag after acking everything: %d", n)
}

// Long runs every Watermill universal test; without it a representative subset runs
// (the whole suite takes about a minute per backend on 2 cores). Set AMOSKYS_BUS_FULL=1.
var Long = os.Getenv("AMOSKYS_BUS_FULL") == "1"

func testUniversal(t *testing.T, be Backend) {
	dsn := be.DSN(t)
	ctor := func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		b, err := bus.Open(dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = b.Close() })
		sub, err := b.Subscriber(group)
		require.NoError(t, err)
		return b.Publisher(), sub
	}
	features := tests.Features{
		ConsumerGroups:                      be.Features.ConsumerGroups,
		GuaranteedOrder:                     true,
		GuaranteedOrderWithSingleSubscriber: true,
		Persistent:                          true,
		ForceShort:                          true,
	}
	single := func(t *testing.T) (message.Publisher, message.Subscriber) { return ctor(t, "test") }
	if Long {
		tests.TestPubSub(t, features, single, ctor)
		return
	}
	for name, f := range map[string]func(*testing.T, tests.TestContext, tests.PubSubConstructor){
		"TestResendOnError":           tests.TestResendOnError,
		"TestNoAck":                   tests.TestNoAck,
		"TestPublishSubscribeInOrder": tests.TestPublishSubscribeInOrder,
		"TestContinueAfterErrors":     tests.TestContinueAfterErrors,
		"TestTopic":                   tests.TestTopic,
		"TestMessageCtx":              tests.TestMessageCtx,
	} {
		t.Run(name, func(t *testing.T) {
			f(t, tests.TestContext{TestID: tests.NewTestID(), Features: features}, single)
		})
	}
}
