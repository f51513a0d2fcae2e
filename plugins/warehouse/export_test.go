package warehouse

import "context"

// InsertWithMethod exposes the chDB insert methods to the external tests.
func InsertWithMethod(ctx context.Context, w Warehouse, method, table string, columns []string, rows [][]any) error {
	return unwrap(w).(*chdbWarehouse).InsertWith(ctx, method, table, columns, rows)
}

// EncodeRowsGeneric is the generic RowBinary encoding of rows (the path the typed encoder must
// match byte for byte).
func EncodeRowsGeneric(ctx context.Context, w Warehouse, table string, rows [][]any) ([]byte, error) {
	b, _, err := unwrap(w).(*chdbWarehouse).encodeRows(ctx, table, columns[table], rows, false, nil)
	return b, err
}
