package warehouse

import (
	"context"
	"errors"
)

func openServer(ctx context.Context, cfg Config) (Warehouse, error) {
	return nil, errors.New("clickhouse server backend not built yet")
}
