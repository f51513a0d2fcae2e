// Package bus is AMOSKYS' transport between processes and hosts: a Watermill pub/sub chosen by
// DSN, shared per DSN inside a process, plus the Benthos `bus` input and output built on it.
//
// # Backends
//
//	gochannel://            one process, in memory, not durable. Publish blocks until every
//	                        subscriber acked (backpressure); with no subscriber a message is dropped.
//	                        No consumer groups: every subscriber sees every message.
//	sqlite://PATH           watermill-sqlite (zombiezen, pure Go) in the file PATH: durable, consumer
//	                        groups (one offset per group and topic), the default when collection and
//	                        detection run as separate processes on one host.
//	postgres://...          watermill-sql/v4 on PostgreSQL through pgx: durable, consumer groups,
//	postgresql://...        many hosts. TLS and auth come from the usual libpq parameters
//	                        (sslmode=verify-full, sslrootcert, sslcert, sslkey; password from
//	                        PGPASSWORD or the DSN).
//
// Query parameters AMOSKYS reads itself (and strips before the driver sees the DSN), on sqlite and
// postgres: poll_interval (default 50ms sqlite, 100ms postgres), batch_size (rows read per query,
// default 100), ack_deadline (redeliver a message not acked in time; default 0 = never for sqlite,
// 5m for postgres where an open transaction holds the batch), retention (default 24h; 0s keeps
// everything).
//
// # Retention
//
// Watermill never deletes a row. Every `bus` input on a durable backend prunes its topics once a
// minute: messages older than retention that every consumer group of the topic has acked are
// deleted (amoskys_bus_pruned_messages_total{topic}); a message some group has not acked is kept
// whatever its age, so a stopped detector loses nothing. A group counts once it has acked a
// message of the topic: a group started later than retention after its elders reads only what
// they have not had pruned.
//
// # API
//
//	b, err := bus.Open("sqlite://./data/bus.db") // shared, ref-counted per DSN
//	defer b.Close()
//	err = b.Publisher().Publish("telemetry", msg)
//	sub, err := b.Subscriber("detect")            // consumer group
//	ch, err := sub.Subscribe(ctx, "telemetry")
//
// Publisher and Subscriber are plain Watermill v1.5 interfaces. Closing the Publisher returned by
// Publisher is a no-op (it belongs to the shared Bus); close each Subscriber you asked for, and the
// Bus once per Open.
//
// # Wire format
//
// The Benthos output packs a batch of messages into one Watermill message (see Pack): one row, one
// transaction and one ack per batch, because every Watermill subscriber here delivers one message
// at a time and waits for its ack. A packed message has metadata amoskys_batch=N and amoskys_count=N;
// Unpack returns its records, and returns a plain message as one record, so Go code can publish and
// consume plain Watermill messages too. Each record's payload is the message's JSON
// (a TelemetryEvent, an AlertEvent, ...) and its metadata travels with it.
//
// # Partitioning by host
//
// Each host's window state must live in one detect worker. The output spreads messages over
// `partitions` topics, TOPIC_p0 .. TOPIC_pN-1 (plain TOPIC when partitions is 1), by FNV-1a of the
// host; an input with `workers: W, worker: I` subscribes to the partitions p with p % W == I.
// This is static assignment, chosen over consumer-group rebalancing because neither watermill-sql
// nor watermill-sqlite pins a consumer to a key: the consumer group only serialises readers of a
// partition, so two workers started with the same worker index stay correct (at-least-once)
// but split that partition's window state.
//
// # PostgreSQL caveats
//
// watermill-sql reads a batch inside one transaction that stays open until every message of the
// batch is acked, and a row is visible to readers only once no older transaction is open. So a
// reader that stops reading without closing holds back every reader of that database, and two
// readers of one group on one topic can starve each other: give each worker its own partitions,
// and close subscribers you stop reading. Rows are deleted only by pruning (see Retention).
//
// # Throughput
//
// Every backend hands a subscription its next message only after the previous one is acked, and
// the input acks after the outputs downstream succeeded. So one subscription moves one packed
// batch per round trip of the pipeline: publish big batches (the output's `batching`, 1000 events
// or more) and do not re-batch with a `period` in outputs downstream of a bus input (an output
// that waits 1s to fill its batch caps the input at one bus message a second). More throughput
// comes from more partitions, each with its own subscription.
//
// # Delivery
//
// At least once: the input acks a bus message only when Benthos acks the batch, that is after
// every output downstream succeeded; a nack or a crash redelivers it. Consumers dedupe on event id.
package bus
