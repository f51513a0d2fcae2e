package warehouse

import "context"

// InsertWithMethod exposes the chDB insert methods to the external tests.
func InsertWithMethod(ctx context.Context, w Warehouse, method, table string, columns []string, rows [][]any) error {
	return unwrap(w).(*chdbWarehouse).InsertWith(ctx, method, table, columns, rows)
}
