package bustest

import (
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/internal/pgtest"
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
		Features: Features{Durable: true, ConsumerGroups: true, Universal: true},
	})
}
