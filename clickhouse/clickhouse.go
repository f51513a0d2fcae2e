// Package clickhouse ships the warehouse DDL (migrations/*.sql, applied in name order by
// `amoskys migrate` / warehouse.Migrate) and the saved investigation queries (queries/*.sql,
// each runnable with `amoskys sql -f`), embedded so the binary carries them.
package clickhouse

import (
	"embed"
	"io/fs"
)

//go:embed migrations/*.sql
var migrations embed.FS

//go:embed queries/*.sql
var queries embed.FS

// Migrations returns the migration files at the root of the returned FS.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	return sub
}

// Queries returns the saved queries at the root of the returned FS.
func Queries() fs.FS {
	sub, err := fs.Sub(queries, "queries")
	if err != nil {
		panic(err)
	}
	return sub
}
