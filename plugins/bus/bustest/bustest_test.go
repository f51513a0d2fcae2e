package bustest

import (
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/pgtest"
	"github.com/amoskys/amoskys/plugins/bus"
)

func TestGoChannel(t *testing.T) {
	var n atomic.Int64
	Run(t, Backend{
		Name: "gochannel",
		// A distinct DSN per test: gochannel://NAME is its own in-process bus.
		DSN: func(t *testing.T) string { return "gochannel://" + t.Name() + strconv.FormatInt(n.Add(1), 10) },
	})
}

func TestSQLite(t *testing.T) {
	Run(t, Backend{
		Name: "sqlite",
		DSN: func(t *testing.T) string {
			return "sqlite://" + filepath.Join(t.TempDir(), "bus.db") + "?poll_interval=10ms"
		},
		Features: Features{Durable: true, ConsumerGroups: true, Universal: true},
	})
}

func TestPostgres(t *testing.T) {
	c := pgtest.Require(t, pgtest.Options{})
	var n atomic.Int64
	Run(t, Backend{
		Name: "postgres",
		DSN: func(t *testing.T) string {
			dsn, err := c.CreateDatabase("bus" + strconv.FormatInt(n.Add(1), 10))
			require.NoError(t, err)
			return dsn + "&poll_interval=10ms"
		},
		// Watermill's universal tests run on sqlite; here they would add half a minute to make test.
		Features: Features{Durable: true, ConsumerGroups: true, Universal: Long},
	})
}

// TestPostgresTLS: the bus reaches PostgreSQL over TLS, verifying the server against its CA
// (sslmode=verify-full, sslrootcert), as agents on other hosts do.
func TestPostgresTLS(t *testing.T) {
	c := pgtest.Require(t, pgtest.Options{TLS: true})
	require.Contains(t, c.DSN, "sslmode=verify-full")
	be := Backend{Name: "postgres-tls", DSN: func(t *testing.T) string { return c.DSN + "&poll_interval=10ms" }}
	t.Run("publish_subscribe", func(t *testing.T) { testPublishSubscribe(t, be) })
	// Without the CA the server is refused.
	_, err := bus.Open(strings.Replace(c.DSN, "sslrootcert="+c.CAFile, "sslrootcert="+filepath.Join(t.TempDir(), "none.crt"), 1))
	require.Error(t, err)
}
