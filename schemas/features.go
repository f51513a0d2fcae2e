package schemas

import "time"

// FeaturesVersion is the schema_version of FeatureVector.
const FeaturesVersion = 1

// FeatureVector is one key's aggregates over one event-time window, emitted by the window stage.
type FeatureVector struct {
	SchemaVersion int       `json:"schema_version"`
	ID            string    `json:"id"` // stable: hash of host, key, window and start
	Host          string    `json:"host"`
	KeyKind       string    `json:"key_kind"` // host | process | interface | device
	Key           string    `json:"key"`      // entity key, e.g. "host", "proc:1234@1700000000", "if:eth0"
	Entity        string    `json:"entity"`   // human name of the entity: process name, interface, device
	Window        string    `json:"window"`   // window length, e.g. "1m"
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	// Names and Values are parallel: Values[i] is the feature Names[i]. Order is stable per KeyKind.
	Names  []string  `json:"names"`
	Values []float64 `json:"values"`
	// Normalised holds Values scaled to 0..1 by the window stage's online per-key normaliser.
	Normalised []float64 `json:"normalised,omitempty"`
	Flags      []string  `json:"flags,omitempty"`     // new_executable, privilege_escalation, spike, ...
	EventIDs   []string  `json:"event_ids,omitempty"` // a bounded sample of the events aggregated
}

// Get returns the value of the named feature.
func (f *FeatureVector) Get(name string) (float64, bool) {
	for i, n := range f.Names {
		if n == name {
			return f.Values[i], true
		}
	}
	return 0, false
}
