// Package warehouse is the one interface to ClickHouse that every stage, command and the API use.
// Two backends sit behind it, chosen by DSN: chdb:// (the ClickHouse engine embedded through
// libchdb) and clickhouse:// (a server or cluster through clickhouse-go/v2). One DDL
// (clickhouse/migrations) and one set of queries serve both.
package warehouse

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Warehouse is a ClickHouse database, embedded or remote.
type Warehouse interface {
	// Query runs a read query and returns its result rendered in a ClickHouse output format
	// (TabSeparatedWithNames, JSONEachRow, PrettyCompactMonoBlock, JSON, ...).
	Query(ctx context.Context, query, format string) ([]byte, error)
	// Exec runs a statement that returns no rows (DDL, INSERT ... SELECT, ALTER).
	Exec(ctx context.Context, query string) error
	// Insert writes rows into table; columns name the fields of every row, in order.
	// Values are plain Go values (string, integers, float64, bool, time.Time, []string,
	// []float64, map[string]string) matching the column types.
	Insert(ctx context.Context, table string, columns []string, rows [][]any) error
	// Backend names the implementation: "chdb" or "clickhouse".
	Backend() string
	// Close releases the connection; for chdb the last Close of a shared handle closes the engine.
	Close() error
}

// ErrLibraryMissing says libchdb.so could not be found; the message tells how to get it.
var ErrLibraryMissing = errors.New("libchdb.so not found: run `make libchdb`, or set AMOSKYS_LIBCHDB to the path of libchdb.so")

// ErrReadOnly is returned for a statement refused by a read-only entry point (/api/sql).
var ErrReadOnly = errors.New("only read queries are allowed here (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN)")

// ErrLocked says another process holds the chDB data directory (only one process may open it).
// `amoskys sql` reacts by going through the running instance's /api/sql instead.
var ErrLocked = errors.New("chDB data directory is locked by another process")

// ErrBadDSN wraps every DSN parsing error.
var ErrBadDSN = errors.New("bad warehouse DSN")

// ErrClosed is returned by a handle used after Close.
var ErrClosed = errors.New("warehouse handle is closed")

// ErrEngineBusy says the process already runs a chDB engine on another directory: one engine
// per process.
var ErrEngineBusy = errors.New("this process already has a chDB engine open on another directory")

// shared is one open backend and how many handles point at it.
type shared struct {
	key  string
	w    Warehouse
	refs int
}

var (
	openMu sync.Mutex
	opened = map[string]*shared{}
)

// Open returns a handle on the warehouse that dsn names. Handles are shared per process and DSN
// and reference-counted: the backend closes when the last handle is closed. chDB is loaded only
// here, lazily, so binaries that never open a chdb:// DSN never need libchdb.so.
func Open(ctx context.Context, dsn string) (Warehouse, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	key := cfg.key()
	openMu.Lock()
	defer openMu.Unlock()
	if s, ok := opened[key]; ok {
		s.refs++
		return &handle{s: s}, nil
	}
	var w Warehouse
	switch cfg.Scheme {
	case SchemeCHDB:
		for _, s := range opened {
			if s.w.Backend() == SchemeCHDB {
				return nil, fmt.Errorf("opening warehouse %q: %w (%s)", dsn, ErrEngineBusy, s.key)
			}
		}
		w, err = openCHDB(ctx, cfg)
	case SchemeClickHouse:
		w, err = openServer(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("opening warehouse %s: %w", cfg.Redacted(), err)
	}
	s := &shared{key: key, w: w, refs: 1}
	opened[key] = s
	return &handle{s: s}, nil
}

// handle is one reference to a shared backend.
type handle struct {
	s      *shared
	closed atomic.Bool
}

func (h *handle) get() (Warehouse, error) {
	if h.closed.Load() {
		return nil, ErrClosed
	}
	return h.s.w, nil
}

func (h *handle) Query(ctx context.Context, query, format string) ([]byte, error) {
	w, err := h.get()
	if err != nil {
		return nil, err
	}
	return w.Query(ctx, query, format)
}

func (h *handle) Exec(ctx context.Context, query string) error {
	w, err := h.get()
	if err != nil {
		return err
	}
	return w.Exec(ctx, query)
}

func (h *handle) Insert(ctx context.Context, table string, columns []string, rows [][]any) error {
	w, err := h.get()
	if err != nil {
		return err
	}
	return w.Insert(ctx, table, columns, rows)
}

func (h *handle) Backend() string { return h.s.w.Backend() }

// Unwrap returns the backend behind the handle (for backend-specific options such as the
// chDB insert method).
func (h *handle) Unwrap() Warehouse { return h.s.w }

func (h *handle) Close() error {
	if h.closed.Swap(true) {
		return nil
	}
	openMu.Lock()
	defer openMu.Unlock()
	h.s.refs--
	if h.s.refs > 0 {
		return nil
	}
	delete(opened, h.s.key)
	return h.s.w.Close()
}

// unwrap returns the backend behind a handle, or w itself.
func unwrap(w Warehouse) Warehouse {
	if h, ok := w.(*handle); ok {
		return h.s.w
	}
	return w
}

// MethodInserter is implemented by backends with several insert methods (chDB); the benchmark
// uses it to compare them side by side.
type MethodInserter interface {
	InsertWith(ctx context.Context, method, table string, columns []string, rows [][]any) error
}

// Unwrap returns the backend behind a shared handle.
func Unwrap(w Warehouse) Warehouse { return unwrap(w) }

// InsertMethods lists the chDB insert methods, the default first.
var InsertMethods = []string{InsertRowBinaryFile, InsertTSVFile, InsertTSV}
