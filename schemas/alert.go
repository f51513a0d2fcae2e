package schemas

import "time"

// AlertVersion is the schema_version of AlertEvent.
const AlertVersion = 1

// Layer names.
const (
	LayerGeometric = "geometric"
	LayerTemporal  = "temporal"
	LayerIForest   = "iforest"
)

// Severity of a fused alert.
type Severity string

const (
	SeverityLow      Severity = "LOW"
	SeverityMedium   Severity = "MEDIUM"
	SeverityHigh     Severity = "HIGH"
	SeverityCritical Severity = "CRITICAL"
)

// Severities lists every Severity from lowest to highest.
var Severities = []Severity{SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// Rank orders severities: LOW=1 .. CRITICAL=4, 0 for unknown.
func (s Severity) Rank() int {
	for i, v := range Severities {
		if v == s {
			return i + 1
		}
	}
	return 0
}

// LayerResult is what one detection layer says about one event or feature vector.
// Score nil means the layer abstains (no model, warming up): never read that as 0.
type LayerResult struct {
	Layer   string    `json:"layer"`             // geometric | temporal | iforest
	Score   *float64  `json:"score"`             // 0..1, nil = abstain
	Abstain string    `json:"abstain,omitempty"` // why the layer abstained
	Reasons []Reason  `json:"reasons,omitempty"`
	Time    time.Time `json:"time"` // event time the result refers to
	Host    string    `json:"host"`
	Entity  string    `json:"entity"`           // entity key the result refers to
	Window  string    `json:"window,omitempty"` // window of the feature vector, if any
	Source  string    `json:"source,omitempty"` // id of the event or feature vector judged
}

// Reason is one human-readable cause inside a LayerResult.
type Reason struct {
	ID       string            `json:"id"` // rule id, "spike:cpu.user", "feature:rss_bytes"
	Title    string            `json:"title"`
	Text     string            `json:"text"`            // a sentence a person can read
	Score    float64           `json:"score"`           // this reason's own 0..1
	Level    string            `json:"level,omitempty"` // sigma level: informational, low, medium, high, critical
	Tags     []string          `json:"tags,omitempty"`  // MITRE attack.* tags
	Evidence map[string]string `json:"evidence,omitempty"`
}

// LayerBreakdown is one layer's part of a fused score.
type LayerBreakdown struct {
	Layer        string   `json:"layer"`
	Score        *float64 `json:"score"` // nil: abstained
	Weight       float64  `json:"weight"`
	Contribution float64  `json:"contribution"`
	Abstain      string   `json:"abstain,omitempty"`
	Reasons      []Reason `json:"reasons,omitempty"`
}

// AlertStatus is an alert's place in its lifecycle.
type AlertStatus string

const (
	StatusOpen         AlertStatus = "open"
	StatusAcknowledged AlertStatus = "acknowledged"
	StatusResolved     AlertStatus = "resolved"
)

// ScoreChange records a re-scoring of an open alert by a later layer result.
type ScoreChange struct {
	Time     time.Time `json:"time"`
	Score    float64   `json:"score"`
	Severity Severity  `json:"severity"`
	Layer    string    `json:"layer"`
}

// AlertEvent is a fused, deduplicated alert.
type AlertEvent struct {
	SchemaVersion int              `json:"schema_version"`
	ID            string           `json:"id"`
	Time          time.Time        `json:"time"` // event time of the last update
	Host          string           `json:"host"`
	EntityKind    string           `json:"entity_kind"` // process | device | metric | host
	Entity        string           `json:"entity"`
	EntityKey     string           `json:"entity_key,omitempty"` // stable key fuse groups by: proc:PID@START, host, if:eth0
	Title         string           `json:"title"`
	Summary       string           `json:"summary"`
	Severity      Severity         `json:"severity"`
	Score         float64          `json:"score"`
	Layers        []LayerBreakdown `json:"layers"`
	Tags          []string         `json:"tags,omitempty"` // MITRE
	EvidenceIDs   []string         `json:"evidence_ids,omitempty"`
	Count         int64            `json:"count"`
	FirstSeen     time.Time        `json:"first_seen"`
	LastSeen      time.Time        `json:"last_seen"`
	Status        AlertStatus      `json:"status"`
	StatusBy      string           `json:"status_by,omitempty"`
	StatusAt      *time.Time       `json:"status_at,omitempty"`
	History       []ScoreChange    `json:"history,omitempty"`
	RunID         string           `json:"run_id,omitempty"`  // replay run; empty for live alerts
	Cause         string           `json:"cause,omitempty"`   // what alert deduplicates on with host and entity: sorted reason ids
	Version       uint64           `json:"version,omitempty"` // grows with every update of the same id (the newest row wins)
}
