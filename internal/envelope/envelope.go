// Package envelope keeps Benthos messages decoded once: the first stage that reads a message
// stores the Go value as its structured content, and later stages take it back without JSON.
// Layer results travel in the message's mutable metadata so the payload stays the event itself.
package envelope

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/schemas"
)

// Metadata keys set on messages that flow through the detect chain.
const (
	MetaType   = "amoskys_type"   // telemetry | features | alert
	MetaLayers = "amoskys_layers" // []schemas.LayerResult (mutable metadata)
	MetaDLQ    = "amoskys_dlq_reason"
	// MetaEOF marks the control message that ends a finite input (a replay): stateful stages
	// flush what they hold (the window stage its open windows) and pass it on.
	MetaEOF = "amoskys_eof"
	// MetaEOFTime, on the end-of-input message, is the end of the input's event-time range
	// (RFC 3339, exclusive: a replay's --to) when it is known.
	MetaEOFTime = "amoskys_eof_time"
)

// Message types carried in MetaType.
const (
	TypeTelemetry = "telemetry"
	TypeFeatures  = "features"
	TypeAlert     = "alert"
	TypeControl   = "control" // carries no payload a stage judges (MetaEOF)
)

// ErrWrongType says the message holds a different type than asked for.
var ErrWrongType = errors.New("message holds another type")

// Type returns the message's type: from metadata, else telemetry.
func Type(msg *service.Message) string {
	// MetaGetMut: the stored value as is, without MetaGet's conversion to a string.
	if v, ok := msg.MetaGetMut(MetaType); ok {
		switch s := v.(type) {
		case string:
			if s != "" {
				return s
			}
		default:
			if t, _ := msg.MetaGet(MetaType); t != "" {
				return t
			}
		}
	}
	return TypeTelemetry
}

// Is says whether msg's type (Type) is want. When want is one of the chain's own types
// (telemetry, features, alert, control) and msg's decoded Go payload is a chain value of another
// type (a *schemas.TelemetryEvent, *schemas.FeatureVector or *schemas.AlertEvent), the answer
// comes from the payload, without the metadata lookup: the stages that pass most messages on
// unjudged (temporal and iforest pass every event) skip them for the price of a type switch.
// Otherwise the metadata decides, so a message retyped by a metadata mutation (dead_letter)
// reads as retyped. The difference from Type(msg) == want: a message whose metadata names one
// chain type while its payload is another (which no stage could decode as the named type), or
// names control while it holds a chain payload (the end-of-input message holds none), is not of
// the named type.
func Is(msg *service.Message, want string) bool {
	switch want {
	case TypeTelemetry, TypeFeatures, TypeAlert, TypeControl:
		if p := payloadType(msg); p != "" && p != want {
			return false
		}
	}
	return Type(msg) == want
}

// payloadType is the chain type msg's decoded Go payload stands for; "" when it holds none (bytes
// not decoded yet, the end-of-input message, a generic value a bloblang stage made).
func payloadType(msg *service.Message) string {
	if !msg.HasStructured() { // AsStructured on bytes would decode them
		return ""
	}
	v, _ := msg.AsStructured()
	switch v.(type) {
	case *schemas.TelemetryEvent:
		return TypeTelemetry
	case *schemas.FeatureVector:
		return TypeFeatures
	case *schemas.AlertEvent:
		return TypeAlert
	}
	return ""
}

// IsEOF says whether msg is the end-of-input control message.
func IsEOF(msg *service.Message) bool {
	_, ok := msg.MetaGetMut(MetaEOF)
	return ok
}

// NewEOF makes the end-of-input control message: an empty JSON object (so that bloblang stages
// in a user's pipeline read it without error), amoskys_type=control, amoskys_eof=true, and
// amoskys_eof_time when end (the exclusive end of the input's event-time range) is known.
func NewEOF(end time.Time) *service.Message {
	m := service.NewMessage([]byte("{}"))
	m.MetaSetMut(MetaType, TypeControl)
	m.MetaSetMut(MetaEOF, true)
	if !end.IsZero() {
		m.MetaSetMut(MetaEOFTime, end.UTC().Format(time.RFC3339Nano))
	}
	return m
}

// EOFTime is the end of the input's range an end-of-input message carries (zero when none or
// unreadable).
func EOFTime(msg *service.Message) time.Time {
	v, ok := msg.MetaGet(MetaEOFTime)
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}
	}
	return t
}

// Event returns the TelemetryEvent in msg, decoding and caching it if the message holds bytes.
func Event(msg *service.Message) (*schemas.TelemetryEvent, error) {
	if t := Type(msg); t != TypeTelemetry {
		return nil, fmt.Errorf("%w: %s", ErrWrongType, t)
	}
	return get[schemas.TelemetryEvent](msg)
}

// EventOf is Event for a caller that has already read the message's type (Type) and found
// telemetry: one metadata lookup fewer per message on the hot path.
func EventOf(msg *service.Message) (*schemas.TelemetryEvent, error) {
	return get[schemas.TelemetryEvent](msg)
}

// FeaturesOf is Features for a caller that has already found the type to be features.
func FeaturesOf(msg *service.Message) (*schemas.FeatureVector, error) {
	return get[schemas.FeatureVector](msg)
}

// AlertOf is Alert for a caller that has already found the type to be alert.
func AlertOf(msg *service.Message) (*schemas.AlertEvent, error) {
	return get[schemas.AlertEvent](msg)
}

// Features returns the FeatureVector in msg.
func Features(msg *service.Message) (*schemas.FeatureVector, error) {
	if t := Type(msg); t != TypeFeatures {
		return nil, fmt.Errorf("%w: %s", ErrWrongType, t)
	}
	return get[schemas.FeatureVector](msg)
}

// Alert returns the AlertEvent in msg.
func Alert(msg *service.Message) (*schemas.AlertEvent, error) {
	if t := Type(msg); t != TypeAlert {
		return nil, fmt.Errorf("%w: %s", ErrWrongType, t)
	}
	return get[schemas.AlertEvent](msg)
}

func get[T any](msg *service.Message) (*T, error) {
	// Only a message already holding a structured value is asked for it: AsStructured on bytes
	// would parse them into generic maps first, a second JSON decode beside ours.
	if msg.HasStructured() {
		if v, err := msg.AsStructured(); err == nil {
			if p, ok := v.(*T); ok {
				return p, nil
			}
		}
	}
	b, err := msg.AsBytes()
	if err != nil {
		return nil, err
	}
	p := new(T)
	if err := json.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("decoding %T: %w", p, err)
	}
	msg.SetStructured(p)
	return p, nil
}

// NewEvent makes a message holding ev.
func NewEvent(ev *schemas.TelemetryEvent) *service.Message {
	m := service.NewMessage(nil)
	SetEvent(m, ev)
	return m
}

// SetEvent stores ev as msg's content.
func SetEvent(msg *service.Message, ev *schemas.TelemetryEvent) {
	msg.SetStructured(ev)
	msg.MetaSetMut(MetaType, TypeTelemetry)
}

// NewFeatures makes a message holding fv.
func NewFeatures(fv *schemas.FeatureVector) *service.Message {
	m := service.NewMessage(nil)
	m.SetStructured(fv)
	m.MetaSetMut(MetaType, TypeFeatures)
	return m
}

// NewAlert makes a message holding a.
func NewAlert(a *schemas.AlertEvent) *service.Message {
	m := service.NewMessage(nil)
	m.SetStructured(a)
	m.MetaSetMut(MetaType, TypeAlert)
	return m
}

// Layers returns the layer results attached to msg so far.
func Layers(msg *service.Message) []schemas.LayerResult {
	if v, ok := msg.MetaGetMut(MetaLayers); ok {
		if l, ok := v.([]schemas.LayerResult); ok {
			return l
		}
	}
	return nil
}

// AddLayer attaches a layer result to msg.
func AddLayer(msg *service.Message, r schemas.LayerResult) {
	l := Layers(msg)
	out := make([]schemas.LayerResult, 0, len(l)+1)
	out = append(out, l...)
	msg.MetaSetMut(MetaLayers, append(out, r))
}
