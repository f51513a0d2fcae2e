package bus

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ThreeDotsLabs/watermill-sqlite/wmsqlitezombiezen"
	"github.com/ThreeDotsLabs/watermill/message"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// sqliteBus is the embedded durable backend: one database file, one table per topic.
type sqliteBus struct {
	path string
	opts Options
	conn *sqlite.Conn // the publisher's; the Watermill publisher serialises its use
	pub  message.Publisher

	mu      sync.Mutex // guards lagConn
	lagConn *sqlite.Conn
}

func newSQLite(path string, opts Options) (*sqliteBus, error) {
	if path == "" {
		return nil, fmt.Errorf("sqlite bus needs a path: sqlite://./data/bus.db")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, err
		}
	}
	conn, err := sqlite.OpenConn(path)
	if err != nil {
		return nil, err
	}
	// WAL with synchronous=NORMAL survives a crash of the process (not of the machine's power)
	// and saves an fsync per publish.
	if err := sqlitex.ExecuteTransient(conn, "PRAGMA synchronous=NORMAL;", nil); err != nil {
		_ = conn.Close()
		return nil, err
	}
	pub, err := wmsqlitezombiezen.NewPublisher(conn, wmsqlitezombiezen.PublisherOptions{
		InitializeSchema: true,
		Logger:           Logger,
	})
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &sqliteBus{path: path, opts: opts, conn: conn, pub: pub}, nil
}

func (s *sqliteBus) publisher() message.Publisher { return s.pub }

func (s *sqliteBus) subscriber(group string) (message.Subscriber, error) {
	d := s.opts.AckDeadline // 0 disables: the input always acks or nacks
	deadline := &d
	return wmsqlitezombiezen.NewSubscriber(s.path, wmsqlitezombiezen.SubscriberOptions{
		ConsumerGroupMatcher: wmsqlitezombiezen.NewStaticConsumerGroupMatcher(group),
		BatchSize:            s.opts.BatchSize,
		PollInterval:         s.opts.PollInterval,
		AckDeadline:          deadline,
		InitializeSchema:     true,
		Logger:               Logger,
	})
}

func (s *sqliteBus) lag(ctx context.Context, topic, group string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lagConn == nil {
		c, err := sqlite.OpenConn(s.path, sqlite.OpenReadOnly|sqlite.OpenURI)
		if err != nil {
			return 0, err
		}
		s.lagConn = c
	}
	s.lagConn.SetInterrupt(ctx.Done())
	defer s.lagConn.SetInterrupt(nil)
	var n int64
	q := fmt.Sprintf(`SELECT COALESCE(SUM(COALESCE(CAST(json_extract(metadata, '$.amoskys_count') AS INTEGER), 1)), 0)
		FROM 'watermill_%s' WHERE "offset" > COALESCE((SELECT offset_acked FROM 'watermill_offsets_%s' WHERE consumer_group = ?), 0)`,
		topic, topic)
	err := sqlitex.Execute(s.lagConn, q, &sqlitex.ExecOptions{
		Args: []any{group},
		ResultFunc: func(stmt *sqlite.Stmt) error {
			n = stmt.ColumnInt64(0)
			return nil
		},
	})
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return 0, nil
	}
	return n, err
}

func (s *sqliteBus) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lagConn != nil {
		_ = s.lagConn.Close()
		s.lagConn = nil
	}
	_ = s.pub.Close()
	return s.conn.Close()
}
