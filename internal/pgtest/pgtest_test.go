package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

func TestStartQueryStop(t *testing.T) {
	for _, tls := range []bool{false, true} {
		c := Require(t, Options{TLS: tls})
		conn, err := pgx.Connect(context.Background(), c.DSN)
		require.NoError(t, err)
		var ssl bool
		require.NoError(t, conn.QueryRow(context.Background(),
			"SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl))
		require.Equal(t, tls, ssl)
		require.NoError(t, conn.Close(context.Background()))
	}
}

func TestCreateDatabase(t *testing.T) {
	c := Require(t, Options{})
	dsn, err := c.CreateDatabase("bus_a")
	require.NoError(t, err)
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	var db string
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT current_database()").Scan(&db))
	require.Equal(t, "bus_a", db)
	require.NoError(t, conn.Close(context.Background()))
}
