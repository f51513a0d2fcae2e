package bus

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/internal/metrics"
)

const (
	outFieldTopic      = "topic"
	outFieldDSN        = "dsn"
	outFieldPartitions = "partitions"
	outFieldKey        = "key"
	outFieldMaxInFly   = "max_in_flight"
	outFieldBatching   = "batching"
)

var (
	metricPublished = metrics.Counter("bus", "published_events", "Events published to the bus, by topic.", "topic")
	metricPubErrors = metrics.Counter("bus", "publish_errors", "Failed publishes to the bus (the batch is retried by Benthos).", "topic")
)

func outputSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("Publishes AMOSKYS messages to the bus (Watermill over gochannel, SQLite or PostgreSQL).").
		Description("Each Benthos batch is packed into one bus message per partition (one row and one "+
			"transaction on durable backends), payloads as JSON and metadata alongside. The write succeeds "+
			"only when the bus stored it (sqlite, postgres) or every in-process subscriber acknowledged it "+
			"(gochannel), so upstream acks mean the bus holds the data. With `partitions` > 1 messages go to "+
			"`<topic>_p<i>`, i = FNV-1a(key) % partitions, the key being the host of the TelemetryEvent, "+
			"FeatureVector or AlertEvent unless `key` says otherwise: each host lands in one partition and "+
			"so in one detect worker. Keep `max_in_flight: 1` to keep each host's order.").
		Field(service.NewStringField(outFieldTopic).Description("Topic to publish to.").Default("telemetry").Example("alerts")).
		Field(service.NewStringField(outFieldDSN).
			Description("Bus DSN: `gochannel://`, `sqlite://PATH` or `postgres://user@host/db?sslmode=verify-full&sslrootcert=...`. "+
				"Query parameters of our own on sqlite and postgres: `poll_interval`, `batch_size`, `ack_deadline`, `retention` (acked messages older than this are pruned by the inputs; default 24h, 0s keeps all).").
			Default("${AMOSKYS_BUS_DSN:gochannel://}").Example("postgres://amoskys@bus.example:5432/amoskys?sslmode=verify-full")).
		Field(service.NewIntField(outFieldPartitions).
			Description("Number of host partitions; the `bus` inputs reading this topic must use the same number.").
			Default(1).Example(8)).
		Field(service.NewInterpolatedStringField(outFieldKey).
			Description("Partition key; by default the message's host.").
			Optional().Example(`${! json("host") }`)).
		Field(service.NewOutputMaxInFlightField().Default(1)).
		Field(service.NewBatchPolicyField(outFieldBatching)).
		Example("Agent publishing telemetry to PostgreSQL", "", `
output:
  bus:
    topic: telemetry
    dsn: ${AMOSKYS_BUS_DSN}
    partitions: 4
    batching:
      count: 1000
      period: 200ms
`)
}

func init() {
	service.MustRegisterBatchOutput("bus", outputSpec(), func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchOutput, service.BatchPolicy, int, error) {
		var pol service.BatchPolicy
		out, err := newOutput(conf)
		if err != nil {
			return nil, pol, 0, err
		}
		maxInFlight, err := conf.FieldMaxInFlight()
		if err != nil {
			return nil, pol, 0, err
		}
		if pol, err = conf.FieldBatchPolicy(outFieldBatching); err != nil {
			return nil, pol, 0, err
		}
		return out, pol, maxInFlight, nil
	})
}

type output struct {
	dsn, topic string
	partitions int
	key        *service.InterpolatedString

	mu sync.Mutex
	b  *Bus
}

func newOutput(conf *service.ParsedConfig) (*output, error) {
	o := &output{}
	var err error
	if o.topic, err = conf.FieldString(outFieldTopic); err != nil {
		return nil, err
	}
	if o.dsn, err = conf.FieldString(outFieldDSN); err != nil {
		return nil, err
	}
	if o.partitions, err = conf.FieldInt(outFieldPartitions); err != nil {
		return nil, err
	}
	if o.partitions < 1 {
		return nil, errors.New("partitions must be at least 1")
	}
	if conf.Contains(outFieldKey) {
		if o.key, err = conf.FieldInterpolatedString(outFieldKey); err != nil {
			return nil, err
		}
	}
	if !validName(o.topic) {
		return nil, errors.New("topic: use letters, digits, '_', '-' and '.'")
	}
	return o, nil
}

func (o *output) Connect(context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.b != nil {
		return nil
	}
	b, err := Open(o.dsn)
	if err != nil {
		return err
	}
	o.b = b
	return nil
}

func (o *output) WriteBatch(ctx context.Context, batch service.MessageBatch) error {
	o.mu.Lock()
	b := o.b
	o.mu.Unlock()
	if b == nil {
		return service.ErrNotConnected
	}
	groups := make([][]Record, o.partitions)
	for _, m := range batch {
		r, err := ToRecord(m)
		if err != nil {
			return err
		}
		p := 0
		if o.partitions > 1 {
			p = PartitionOf(o.keyOf(m), o.partitions)
		}
		groups[p] = append(groups[p], r)
	}
	for p, recs := range groups {
		if len(recs) == 0 {
			continue
		}
		topic := PartitionTopic(o.topic, p, o.partitions)
		wm := Pack(recs)
		wm.SetContext(ctx)
		if err := b.Publisher().Publish(topic, wm); err != nil {
			metricPubErrors.WithLabelValues(topic).Inc()
			return err
		}
		metricPublished.WithLabelValues(topic).Add(float64(len(recs)))
	}
	return nil
}

// ToRecord turns a Benthos message into a bus record: its bytes (JSON of a structured message)
// and its metadata, non-string values as JSON.
func ToRecord(m *service.Message) (Record, error) {
	payload, err := m.AsBytes()
	if err != nil {
		return Record{}, err
	}
	var md map[string]string
	err = m.MetaWalkMut(func(k string, v any) error {
		if md == nil {
			md = map[string]string{}
		}
		switch x := v.(type) {
		case string:
			md[k] = x
		case []byte:
			md[k] = string(x)
		default:
			j, err := json.Marshal(x)
			if err != nil {
				return err
			}
			md[k] = string(j)
		}
		return nil
	})
	return Record{Payload: payload, Metadata: md}, err
}

// keyOf is the partition key: the `key` field, else the host of the message's contract type.
func (o *output) keyOf(m *service.Message) string {
	if o.key != nil {
		k, err := o.key.TryString(m)
		if err == nil {
			return k
		}
		return ""
	}
	switch envelope.Type(m) {
	case envelope.TypeFeatures:
		if fv, err := envelope.Features(m); err == nil {
			return fv.Host
		}
	case envelope.TypeAlert:
		if a, err := envelope.Alert(m); err == nil {
			return a.Host
		}
	default:
		if ev, err := envelope.Event(m); err == nil {
			return ev.Host
		}
	}
	return "" // malformed: partition of "", normalise downstream dead-letters it
}

func (o *output) Close(context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.b == nil {
		return nil
	}
	err := o.b.Close()
	o.b = nil
	return err
}
