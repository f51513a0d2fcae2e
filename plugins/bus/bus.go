package bus

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Backend names.
const (
	BackendGoChannel = "gochannel"
	BackendSQLite    = "sqlite"
	BackendPostgres  = "postgres"
)

// DefaultDSN is the bus of a single process.
const DefaultDSN = "gochannel://"

// connectTimeout bounds the first connection to a remote bus.
const connectTimeout = 15 * time.Second

// Sentinel errors.
var (
	// ErrUnknownScheme says the DSN names no backend this build knows.
	ErrUnknownScheme = errors.New("unknown bus DSN scheme (want gochannel://, sqlite://PATH or postgres://...)")
	// ErrClosed says the Bus was closed by every holder.
	ErrClosed = errors.New("bus is closed")
	// ErrNoLag says the backend keeps no offsets to measure a backlog from (gochannel).
	ErrNoLag = errors.New("backend keeps no offsets: lag unknown")
)

// backend is one implementation behind a Bus.
type backend interface {
	publisher() message.Publisher
	subscriber(group string) (message.Subscriber, error)
	// lag is the number of events published to topic and not yet acked by group.
	lag(ctx context.Context, topic, group string) (int64, error)
	// prune deletes the messages of topic published before cutoff that every consumer group
	// known to the topic has acked, and returns how many bus messages it deleted.
	prune(ctx context.Context, topic string, cutoff time.Time) (int64, error)
	close() error
}

// Bus is a shared handle on one transport. Open it once per use and Close it once.
type Bus struct {
	dsn     string
	kind    string
	be      backend
	pub     message.Publisher
	refs    int
	closed  bool
	options Options
}

// Options are read from the DSN's query (sqlite, postgres).
type Options struct {
	PollInterval time.Duration
	BatchSize    int
	AckDeadline  time.Duration
	// Retention is how long acked messages stay on a durable bus before the readers' pruning
	// deletes them; 0 keeps everything. Messages some consumer group has not acked are kept
	// whatever their age.
	Retention time.Duration
}

// DefaultRetention is the Retention of the durable backends unless the DSN says otherwise.
const DefaultRetention = 24 * time.Hour

var (
	regMu    sync.Mutex
	registry = map[string]*Bus{}
)

// Logger is the Watermill logger every backend uses; nil means silent.
var Logger watermill.LoggerAdapter = watermill.NopLogger{}

// Open returns the process-wide Bus for dsn, creating it on first use. Every Open needs one Close.
func Open(dsn string) (*Bus, error) {
	if dsn == "" {
		dsn = DefaultDSN
	}
	regMu.Lock()
	defer regMu.Unlock()
	if b, ok := registry[dsn]; ok {
		b.refs++
		return b, nil
	}
	b, err := open(dsn)
	if err != nil {
		return nil, err
	}
	b.refs = 1
	registry[dsn] = b
	return b, nil
}

func open(dsn string) (*Bus, error) {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return nil, fmt.Errorf("bus DSN %q: %w", redact(dsn), ErrUnknownScheme)
	}
	b := &Bus{dsn: dsn}
	var err error
	switch scheme {
	case "gochannel", "memory":
		b.kind = BackendGoChannel
		b.be = newGoChannel()
	case "sqlite", "sqlite3", "file":
		b.kind = BackendSQLite
		var path string
		path, b.options, err = splitOptions(rest, Options{PollInterval: 50 * time.Millisecond, BatchSize: 100, Retention: DefaultRetention})
		if err != nil {
			return nil, fmt.Errorf("bus DSN %q: %w", redact(dsn), err)
		}
		b.be, err = newSQLite(path, b.options)
	case "postgres", "postgresql":
		b.kind = BackendPostgres
		var conn string
		conn, b.options, err = splitOptions(dsn, Options{PollInterval: 100 * time.Millisecond, BatchSize: 100, AckDeadline: 5 * time.Minute, Retention: DefaultRetention})
		if err != nil {
			return nil, fmt.Errorf("bus DSN %q: %w", redact(dsn), err)
		}
		b.be, err = newPostgres(conn, b.options)
	default:
		return nil, fmt.Errorf("bus DSN %q: %w", redact(dsn), ErrUnknownScheme)
	}
	if err != nil {
		return nil, fmt.Errorf("opening bus %q: %w", redact(dsn), err)
	}
	b.pub = sharedPublisher{b.be.publisher()}
	return b, nil
}

// splitOptions takes AMOSKYS' own parameters out of the DSN's query.
func splitOptions(s string, def Options) (string, Options, error) {
	base, query, _ := strings.Cut(s, "?")
	if query == "" {
		return base, def, nil
	}
	vals, err := url.ParseQuery(query)
	if err != nil {
		return "", def, err
	}
	o := def
	if v := vals.Get("poll_interval"); v != "" {
		if o.PollInterval, err = time.ParseDuration(v); err != nil || o.PollInterval <= 0 {
			return "", def, fmt.Errorf("poll_interval %q: want a positive duration", v)
		}
	}
	if v := vals.Get("batch_size"); v != "" {
		if _, err := fmt.Sscanf(v, "%d", &o.BatchSize); err != nil || o.BatchSize <= 0 {
			return "", def, fmt.Errorf("batch_size %q: want a positive integer", v)
		}
	}
	if v := vals.Get("ack_deadline"); v != "" {
		if o.AckDeadline, err = time.ParseDuration(v); err != nil || o.AckDeadline < 0 {
			return "", def, fmt.Errorf("ack_deadline %q: want a duration >= 0", v)
		}
	}
	if v := vals.Get("retention"); v != "" {
		if o.Retention, err = time.ParseDuration(v); err != nil || o.Retention < 0 {
			return "", def, fmt.Errorf("retention %q: want a duration >= 0 (0s keeps every message)", v)
		}
	}
	for _, k := range []string{"poll_interval", "batch_size", "ack_deadline", "retention"} {
		vals.Del(k)
	}
	if len(vals) == 0 {
		return base, o, nil
	}
	return base + "?" + vals.Encode(), o, nil
}

// redact hides a password in a DSN for messages and logs.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// DSN returns the DSN the Bus was opened with, password hidden.
func (b *Bus) DSN() string { return redact(b.dsn) }

// Backend names the implementation: gochannel, sqlite or postgres.
func (b *Bus) Backend() string { return b.kind }

// Durable reports whether published messages survive the process (sqlite, postgres).
func (b *Bus) Durable() bool { return b.kind != BackendGoChannel }

// Options returns the options read from the DSN.
func (b *Bus) Options() Options { return b.options }

// Publisher returns the Bus's shared publisher. Its Close does nothing: close the Bus.
func (b *Bus) Publisher() message.Publisher { return b.pub }

// Subscriber returns a new subscriber in consumer group group ("" = "default"). Close it when done.
// gochannel has no consumer groups: every subscriber there sees every message.
func (b *Bus) Subscriber(group string) (message.Subscriber, error) {
	if group == "" {
		group = "default"
	}
	if !validName(group) {
		return nil, fmt.Errorf("consumer group %q: use letters, digits, '_', '-' and '.'", group)
	}
	regMu.Lock()
	closed := b.closed
	regMu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	return b.be.subscriber(group)
}

// Lag returns how many events are published to topic and not yet acknowledged by group.
// ErrNoLag for gochannel.
func (b *Bus) Lag(ctx context.Context, topic, group string) (int64, error) {
	if group == "" {
		group = "default"
	}
	if !validName(topic) || !validName(group) {
		return 0, fmt.Errorf("lag of %q/%q: invalid name", topic, group)
	}
	return b.be.lag(ctx, topic, group)
}

// Prune deletes the messages of topic older than olderThan that every consumer group known to
// the topic has acknowledged, and returns how many bus messages (packed batches) it deleted.
// A topic nobody has read from yet keeps everything. gochannel keeps nothing: 0, nil.
//
// A consumer group is known once it has acknowledged a message of the topic, so a new group
// reads only what its elders have not yet had pruned: start every group before retention runs out.
func (b *Bus) Prune(ctx context.Context, topic string, olderThan time.Duration) (int64, error) {
	if !validName(topic) {
		return 0, fmt.Errorf("prune of %q: invalid name", topic)
	}
	if olderThan < 0 {
		return 0, fmt.Errorf("prune of %q: negative age %v", topic, olderThan)
	}
	return b.be.prune(ctx, topic, time.Now().Add(-olderThan))
}

// Close releases this holder's reference; the last Close closes the transport.
func (b *Bus) Close() error {
	regMu.Lock()
	if b.closed {
		regMu.Unlock()
		return nil
	}
	b.refs--
	if b.refs > 0 {
		regMu.Unlock()
		return nil
	}
	b.closed = true
	delete(registry, b.dsn)
	regMu.Unlock()
	return b.be.close()
}

// validName keeps topic and group names safe to splice into table names.
func validName(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
		default:
			return false
		}
	}
	return true
}

// sharedPublisher hides Close: the publisher belongs to the Bus.
type sharedPublisher struct{ message.Publisher }

func (sharedPublisher) Close() error { return nil }
