package bus

import (
	"context"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
)

// goChannel is the in-process backend: one GoChannel shared by every publisher and subscriber.
type goChannel struct {
	gc *gochannel.GoChannel
}

func newGoChannel() *goChannel {
	return &goChannel{gc: gochannel.NewGoChannel(gochannel.Config{
		// Publish returns once every subscriber acked: backpressure from the slowest consumer.
		BlockPublishUntilSubscriberAck: true,
	}, Logger)}
}

func (g *goChannel) publisher() message.Publisher { return g.gc }

func (g *goChannel) subscriber(string) (message.Subscriber, error) {
	return &goChannelSub{gc: g.gc}, nil
}

func (g *goChannel) lag(context.Context, string, string) (int64, error) { return 0, ErrNoLag }

func (g *goChannel) close() error { return g.gc.Close() }

// goChannelSub is one subscriber on the shared GoChannel; its Close ends only its subscriptions.
type goChannelSub struct {
	gc      *gochannel.GoChannel
	mu      sync.Mutex
	cancels []context.CancelFunc
	closed  bool
}

func (s *goChannelSub) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	s.cancels = append(s.cancels, cancel)
	return s.gc.Subscribe(ctx, topic)
}

func (s *goChannelSub) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, c := range s.cancels {
		c()
	}
	s.cancels = nil
	return nil
}

// prune has nothing to do: gochannel keeps no messages.
func (*goChannel) prune(context.Context, string, time.Time) (int64, error) { return 0, nil }
