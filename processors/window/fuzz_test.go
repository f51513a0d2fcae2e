package window

import (
	"encoding/json"
	"testing"

	"github.com/amoskys/amoskys/schemas"
)

// Any sequence of events an outside producer can send is windowed without a panic, and every
// vector has as many values as names.
func FuzzAdd(f *testing.F) {
	for _, ev := range randomStream(10) {
		b, _ := json.Marshal([]*schemas.TelemetryEvent{ev, ev})
		f.Add(b)
	}
	f.Add([]byte(`[{"kind":"snmp_metric","time":"2026-01-01T00:00:00Z","metric":{"name":"if.oper_status","value":1}},{"kind":"process_exit","time":"2030-01-01T00:00:00Z","process":{"pid":1}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var evs []*schemas.TelemetryEvent
		if json.Unmarshal(data, &evs) != nil {
			return
		}
		w, _ := New(DefaultConfig())
		check := func(fvs []*schemas.FeatureVector) {
			for _, fv := range fvs {
				if len(fv.Values) != len(fv.Names) || len(fv.Normalised) != len(fv.Names) {
					t.Fatalf("vector %s: %d names, %d values", fv.Key, len(fv.Names), len(fv.Values))
				}
			}
		}
		for _, ev := range evs {
			if ev != nil {
				check(w.Add(ev))
			}
		}
		check(w.Flush())
	})
}
