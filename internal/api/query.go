package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/amoskys/amoskys/internal/config"
	"github.com/amoskys/amoskys/plugins/warehouse"
)

// Where Query ran a query.
const (
	ViaAPI   = "via the running instance's /api/sql"
	ViaLocal = "on the warehouse directly"
)

// Query is `amoskys sql`: when an amoskys API answers on api.listen it sends the query to its
// /api/sql (the running instance holds the chDB directory; read-only there); otherwise it opens
// the configured warehouse itself and runs the query without limits. It returns the result and
// where it ran.
func Query(ctx context.Context, c *config.Config, query, format string) (*Result, string, error) {
	if c.API.Enabled {
		cl, err := NewClient(c)
		if err == nil && cl.Running(ctx) {
			tok, err := ReadToken(c, nil)
			if err != nil {
				return nil, ViaAPI, err
			}
			cl.Token = tok
			res, err := cl.SQL(ctx, CleanQuery(query), format)
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != 503 { // 503: that process (an agent) has no warehouse
				return res, ViaAPI, err
			}
		}
	}
	if c.Warehouse.LibCHDB != "" {
		warehouse.SetLibraryPath(c.Path(c.Warehouse.LibCHDB))
	}
	w, err := warehouse.Open(ctx, c.WarehouseDSN())
	if err != nil {
		if errors.Is(err, warehouse.ErrLocked) {
			return nil, ViaLocal, fmt.Errorf("%w; and no amoskys API answered on %s to take the query", err, c.API.Listen)
		}
		return nil, ViaLocal, err
	}
	defer w.Close()
	res, err := RunSQL(ctx, w, query, format, Limits{})
	return res, ViaLocal, err
}
