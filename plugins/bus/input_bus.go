package bus

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/amoskys/amoskys/internal/envelope"
	"github.com/amoskys/amoskys/internal/metrics"
	"github.com/amoskys/amoskys/schemas"
)

const (
	inFieldTopic      = "topic"
	inFieldGroup      = "consumer_group"
	inFieldGroupAlias = "group"
	inFieldDSN        = "dsn"
	inFieldPartitions = "partitions"
	inFieldWorkers    = "workers"
	inFieldWorker     = "worker"
	inFieldLagEvery   = "lag_interval"
)

var (
	metricReceived = metrics.Counter("bus", "received_events", "Events read from the bus, by topic.", "topic")
	metricBadFrame = metrics.Counter("bus", "bad_frames", "Bus messages whose packed frame could not be read (passed on raw).", "topic")
	metricNacked   = metrics.Counter("bus", "nacked_messages", "Bus messages nacked for redelivery because the pipeline failed them.", "topic")
	metricPruned   = metrics.Counter("bus", "pruned_messages", "Bus messages every consumer group had acked, deleted after the DSN's retention (durable backends).", "topic")
	metricLag      = metrics.Gauge("bus", "lag", "Events published to a topic and not yet acknowledged by a consumer group (durable backends).", "topic", "group")
)

func inputSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("Reads AMOSKYS messages from the bus (Watermill over gochannel, SQLite or PostgreSQL), at least once.").
		Description("A bus message is acknowledged to the bus only when Benthos acknowledges its batch, that is after "+
			"every output downstream succeeded; a nack or a crash redelivers it, so consumers dedupe on event id. "+
			"Each bus message carries a batch packed by the `bus` output and becomes one Benthos batch; payloads "+
			"and metadata arrive as sent. A payload is never parsed here: a malformed one is passed on for "+
			"`normalise` to dead-letter. With `partitions` > 1 the input reads the host partitions "+
			"`<topic>_p<i>` that this worker owns (i % workers == worker), so each host's window state lives in "+
			"one worker. The gauge `amoskys_bus_lag{topic,group}` shows the backlog on durable backends.").
		Field(service.NewStringField(inFieldTopic).Description("Topic to read.").Default("telemetry").Example("alerts")).
		Field(service.NewStringField(inFieldGroup).
			Description("Consumer group: the bus keeps one offset per group and topic, and readers in one group share the messages. Ignored by gochannel, where every reader sees everything.").
			Default("detect").Example("api")).
		Field(service.NewStringField(inFieldGroupAlias).
			Description("Alias of `consumer_group`; wins when both are set.").
			Optional().Advanced().Example("detect")).
		Field(service.NewStringField(inFieldDSN).
			Description("Bus DSN: `gochannel://`, `sqlite://PATH` or `postgres://user@host/db?sslmode=verify-full&sslrootcert=...`. "+
				"Query parameters of our own on sqlite and postgres: `poll_interval`, `batch_size`, `ack_deadline`, `retention` (acked messages older than this are pruned by the inputs; default 24h, 0s keeps all).").
			Default("${AMOSKYS_BUS_DSN:gochannel://}").Example("sqlite://./data/bus.db")).
		Field(service.NewIntField(inFieldPartitions).
			Description("Number of host partitions the producers write (the `partitions` of the `bus` output).").
			Default(1).Example(8)).
		Field(service.NewIntField(inFieldWorkers).
			Description("Number of detect workers sharing the partitions.").Default(1).Example(2)).
		Field(service.NewIntField(inFieldWorker).
			Description("This worker's index, 0 .. workers-1: it reads the partitions p with p % workers == worker.").
			Default(0).Example(1)).
		Field(service.NewDurationField(inFieldLagEvery).
			Description("How often to measure the backlog for `amoskys_bus_lag`; 0s turns it off.").
			Default("5s").Example("1s")).
		LintRule(`root = if this.worker.or(0) >= this.workers.or(1) { "worker must be below workers" } else if this.workers.or(1) > this.partitions.or(1) { "workers must not exceed partitions" }`).
		Example("Detector on the SQLite bus", "", `
input:
  bus:
    topic: telemetry
    consumer_group: detect
    dsn: sqlite://./data/bus.db
`)
}

func init() {
	service.MustRegisterBatchInput("bus", inputSpec(), func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
		// No AutoRetryNacks: a nack goes back to the bus, which redelivers.
		return newInput(conf, mgr.Logger())
	})
}

type input struct {
	dsn, topic, group string
	topics            []string
	lagEvery          time.Duration
	log               *service.Logger

	mu     sync.Mutex
	b      *Bus
	sub    message.Subscriber
	msgs   chan delivery
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type delivery struct {
	topic string
	msg   *message.Message
}

func newInput(conf *service.ParsedConfig, log *service.Logger) (*input, error) {
	in := &input{log: log}
	var err error
	if in.topic, err = conf.FieldString(inFieldTopic); err != nil {
		return nil, err
	}
	if in.group, err = conf.FieldString(inFieldGroup); err != nil {
		return nil, err
	}
	if conf.Contains(inFieldGroupAlias) {
		if in.group, err = conf.FieldString(inFieldGroupAlias); err != nil {
			return nil, err
		}
	}
	if in.dsn, err = conf.FieldString(inFieldDSN); err != nil {
		return nil, err
	}
	parts, err := conf.FieldInt(inFieldPartitions)
	if err != nil {
		return nil, err
	}
	workers, err := conf.FieldInt(inFieldWorkers)
	if err != nil {
		return nil, err
	}
	worker, err := conf.FieldInt(inFieldWorker)
	if err != nil {
		return nil, err
	}
	if in.lagEvery, err = conf.FieldDuration(inFieldLagEvery); err != nil {
		return nil, err
	}
	if !validName(in.topic) || !validName(in.group) {
		return nil, errors.New("topic and consumer_group: use letters, digits, '_', '-' and '.'")
	}
	if in.topics, err = WorkerTopics(in.topic, parts, workers, worker); err != nil {
		return nil, err
	}
	return in, nil
}

func (in *input) Connect(context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.sub != nil {
		return nil
	}
	b, err := Open(in.dsn)
	if err != nil {
		return err
	}
	sub, err := b.Subscriber(in.group)
	if err != nil {
		_ = b.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	msgs := make(chan delivery)
	for _, t := range in.topics {
		ch, err := sub.Subscribe(ctx, t)
		if err != nil {
			cancel()
			_ = sub.Close()
			_ = b.Close()
			return err
		}
		in.wg.Add(1)
		go func(t string, ch <-chan *message.Message) {
			defer in.wg.Done()
			for m := range ch {
				select {
				case msgs <- delivery{topic: t, msg: m}:
				case <-ctx.Done():
					m.Nack()
					return
				}
			}
		}(t, ch)
	}
	if in.lagEvery > 0 && b.Durable() {
		in.wg.Add(1)
		go in.watchLag(ctx, b)
	}
	if r := b.Options().Retention; r > 0 && b.Durable() {
		in.wg.Add(1)
		go in.prune(ctx, b, r)
	}
	in.b, in.sub, in.msgs, in.cancel = b, sub, msgs, cancel
	return nil
}

// prune deletes, every minute (or every half retention when shorter), the messages of the
// input's topics older than retention that every consumer group has acked.
func (in *input) prune(ctx context.Context, b *Bus, retention time.Duration) {
	defer in.wg.Done()
	every := min(time.Minute, max(retention/2, time.Second))
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for _, topic := range in.topics {
			qctx, cancel := context.WithTimeout(ctx, time.Minute)
			n, err := b.Prune(qctx, topic, retention)
			cancel()
			if err == nil {
				metricPruned.WithLabelValues(topic).Add(float64(n))
			} else if ctx.Err() == nil && in.log != nil {
				in.log.Warnf("bus pruning of %s: %v", topic, err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (in *input) watchLag(ctx context.Context, b *Bus) {
	defer in.wg.Done()
	t := time.NewTicker(in.lagEvery)
	defer t.Stop()
	for {
		for _, topic := range in.topics {
			qctx, cancel := context.WithTimeout(ctx, in.lagEvery+5*time.Second)
			n, err := b.Lag(qctx, topic, in.group)
			cancel()
			if err == nil {
				metricLag.WithLabelValues(topic, in.group).Set(float64(n))
			} else if ctx.Err() == nil && in.log != nil {
				in.log.Debugf("bus lag of %s: %v", topic, err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (in *input) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	in.mu.Lock()
	msgs := in.msgs
	in.mu.Unlock()
	if msgs == nil {
		return nil, nil, service.ErrNotConnected
	}
	var d delivery
	select {
	case d = <-msgs:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	batch := ToBatch(d.msg)
	if batch == nil {
		metricBadFrame.WithLabelValues(d.topic).Inc()
		if in.log != nil {
			in.log.Warnf("bus message %s on %s has a bad frame: passed on raw", d.msg.UUID, d.topic)
		}
		batch = service.MessageBatch{service.NewMessage(d.msg.Payload)}
	}
	metricReceived.WithLabelValues(d.topic).Add(float64(len(batch)))
	msg := d.msg
	return batch, func(_ context.Context, err error) error {
		if err != nil {
			metricNacked.WithLabelValues(d.topic).Inc()
			msg.Nack()
			return nil
		}
		msg.Ack()
		return nil
	}, nil
}

// ToBatch turns a bus message into Benthos messages; nil when its packed frame is unreadable.
func ToBatch(m *message.Message) service.MessageBatch {
	recs, err := Unpack(m)
	if err != nil {
		return nil
	}
	batch := make(service.MessageBatch, len(recs))
	for i, r := range recs {
		bm := service.NewMessage(r.Payload)
		for k, v := range r.Metadata {
			if k == envelope.MetaLayers {
				var layers []schemas.LayerResult
				if json.Unmarshal([]byte(v), &layers) == nil {
					bm.MetaSetMut(k, layers)
					continue
				}
			}
			bm.MetaSetMut(k, v)
		}
		batch[i] = bm
	}
	return batch
}

func (in *input) Close(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.sub == nil {
		return nil
	}
	in.cancel()
	// Unacked deliveries are redelivered by the bus on the next start.
	err := in.sub.Close()
	in.wg.Wait()
	err = errors.Join(err, in.b.Close())
	in.sub, in.b, in.msgs = nil, nil, nil
	return err
}
