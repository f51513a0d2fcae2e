package warehouse_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/amoskys/amoskys/plugins/warehouse"
	"github.com/amoskys/amoskys/plugins/warehouse/warehousetest"
)

// Every chDB insert method stores the same rows (escaping, arrays, maps, nulls, times).
func TestInsertMethodsAgree(t *testing.T) {
	w := needCHDB(t)
	warehousetest.Migrated(t, w)
	for _, method := range warehouse.InsertMethods {
		t.Run(method, func(t *testing.T) {
			host := warehousetest.Host(t)
			evs := warehousetest.Events(host)
			byTable := map[string][][]any{}
			for _, ev := range evs {
				table, row, err := warehouse.TelemetryRow(ev)
				require.NoError(t, err)
				byTable[table] = append(byTable[table], row)
			}
			for table, rows := range byTable {
				require.NoError(t, warehouse.InsertWithMethod(t.Context(), w, method, table, warehouse.Columns(table), rows), table)
			}
			got := warehousetest.ReadBack(t, w, host)
			require.Len(t, got, len(evs))
			for i, ev := range got {
				// Same content as the RowBinary path, whatever the method.
				want := warehousetest.Events(host)
				for _, e := range want {
					if e.ID == ev.ID {
						a, _ := json.Marshal(ev)
						require.Contains(t, string(a), `"host":"`+host+`"`, i)
						if e.Process != nil {
							require.Equal(t, e.Process.Cmdline, ev.Process.Cmdline)
							require.Equal(t, len(e.Process.Ancestry), len(ev.Process.Ancestry))
						}
						require.True(t, e.Time.Equal(ev.Time), "%s vs %s", e.Time, ev.Time)
					}
				}
			}
		})
	}
}
