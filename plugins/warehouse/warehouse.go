// Package warehouse is the one interface to ClickHouse that every stage, command and the API use.
// Two backends sit behind it, chosen by DSN: chdb:// (the ClickHouse engine embedded through
// libchdb) and clickhouse:// (a server or cluster through clickhouse-go/v2). One DDL
// (clickhouse/migrations) and one set of queries serve both.
package warehouse

import (
	"context"
	"errors"
)

// Warehouse is a ClickHouse database, embedded or remote.
type Warehouse interface {
	// Query runs a read query and returns its result rendered in a ClickHouse output format
	// (TabSeparatedWithNames, JSONEachRow, PrettyCompactMonoBlock, JSON, ...).
	Query(ctx context.Context, query, format string) ([]byte, error)
	// Exec runs a statement that returns no rows (DDL, INSERT ... SELECT, ALTER).
	Exec(ctx context.Context, query string) error
	// Insert writes rows into table; columns name the fields of every row, in order.
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
