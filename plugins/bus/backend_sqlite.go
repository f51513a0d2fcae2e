package bus

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

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

	mu        sync.Mutex // guards lagConn and pruneConn
	lagConn   *sqlite.Conn
	pruneConn *sqlite.Conn
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

func (s *sqliteBus) prune(ctx context.Context, topic string, cutoff time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pruneConn == nil {
		c, err := sqlite.OpenConn(s.path) // waits up to 10 s for the writer's lock
		if err != nil {
			return 0, err
		}
		s.pruneConn = c
	}
	s.pruneConn.SetInterrupt(ctx.Done())
	defer s.pruneConn.SetInterrupt(nil)
	// Offsets only grow (AUTOINCREMENT never reuses one), and a group has acked every row at or
	// below its offset_acked; MIN over no groups is NULL, which deletes nothing.
	q := fmt.Sprintf(`DELETE FROM 'watermill_%s' WHERE unixepoch(created_at) < ?
		AND "offset" <= (SELECT MIN(offset_acked) FROM 'watermill_offsets_%s')`, topic, topic)
	err := sqlitex.Execute(s.pruneConn, q, &sqlitex.ExecOptions{Args: []any{float64(cutoff.UnixNano()) / 1e9}})
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return int64(s.pruneConn.Changes()), nil
}

func (s *sqliteBus) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lagConn != nil {
		_ = s.lagConn.Close()
		s.lagConn = nil
	}
	if s.pruneConn != nil {
		_ = s.pruneConn.Close()
		s.pruneConn = nil
	}
	_ = s.pub.Close()
	return s.conn.Close()
}
