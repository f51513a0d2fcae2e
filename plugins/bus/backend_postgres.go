package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// postgresBus is the many-host backend: watermill-sql/v4 over a pgx pool.
type postgresBus struct {
	pool    *pgxpool.Pool
	opts    Options
	schema  wsql.DefaultPostgreSQLSchema
	offsets wsql.DefaultPostgreSQLOffsetsAdapter
	pub     message.Publisher
}

func newPostgres(dsn string, opts Options) (*postgresBus, error) {
	cfg, err := pgxpool.ParseConfig(dsn) // sslmode, sslrootcert, sslcert, sslkey: TLS as libpq
	if err != nil {
		return nil, err
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "amoskys-bus"
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	p := &postgresBus{
		pool: pool,
		opts: opts,
		schema: wsql.DefaultPostgreSQLSchema{
			// Payloads are packed batches (see Pack), not JSON documents.
			GeneratePayloadType: func(string) string { return "BYTEA" },
			SubscribeBatchSize:  opts.BatchSize,
		},
	}
	pub, err := wsql.NewPublisher(wsql.BeginnerFromPgx(pool), wsql.PublisherConfig{
		SchemaAdapter:        p.schema,
		AutoInitializeSchema: true,
	}, Logger)
	if err != nil {
		pool.Close()
		return nil, err
	}
	p.pub = pub
	return p, nil
}

func (p *postgresBus) publisher() message.Publisher { return p.pub }

func (p *postgresBus) subscriber(group string) (message.Subscriber, error) {
	d := p.opts.AckDeadline
	return wsql.NewSubscriber(wsql.BeginnerFromPgx(p.pool), wsql.SubscriberConfig{
		ConsumerGroup:    group,
		AckDeadline:      &d,
		PollInterval:     p.opts.PollInterval,
		ResendInterval:   p.opts.PollInterval,
		RetryInterval:    p.opts.PollInterval,
		SchemaAdapter:    p.schema,
		OffsetsAdapter:   p.offsets,
		InitializeSchema: true,
	}, Logger)
}

func (p *postgresBus) lag(ctx context.Context, topic, group string) (int64, error) {
	var exists bool
	if err := p.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", p.offsets.MessagesOffsetsTable(topic)).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists { // no reader yet: every published event is pending
		q := fmt.Sprintf(`SELECT COALESCE(SUM(COALESCE((metadata->>'amoskys_count')::bigint, 1)), 0)::bigint FROM %s`,
			p.schema.MessagesTable(topic))
		var n int64
		err := p.pool.QueryRow(ctx, q).Scan(&n)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
			return 0, nil
		}
		return n, err
	}
	q := fmt.Sprintf(`SELECT COALESCE(SUM(COALESCE((m.metadata->>'amoskys_count')::bigint, 1)), 0)::bigint
		FROM %s m LEFT JOIN %s o ON o.consumer_group = $1
		WHERE o.consumer_group IS NULL
		   OR m.transaction_id > o.last_processed_transaction_id
		   OR (m.transaction_id = o.last_processed_transaction_id AND m."offset" > o.offset_acked)`,
		p.schema.MessagesTable(topic), p.offsets.MessagesOffsetsTable(topic))
	var n int64
	err := p.pool.QueryRow(ctx, q, group).Scan(&n)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table: nothing published yet
		return 0, nil
	}
	return n, err
}

func (p *postgresBus) prune(ctx context.Context, topic string, cutoff time.Time) (int64, error) {
	// A row is acked by a group when it is at or before the group's (transaction, offset) mark,
	// the order watermill-sql reads in. created_at is a local TIMESTAMP written by the database.
	q := fmt.Sprintf(`DELETE FROM %[1]s m
		WHERE m.created_at < $1::timestamptz AT TIME ZONE current_setting('TimeZone')
		  AND EXISTS (SELECT 1 FROM %[2]s)
		  AND NOT EXISTS (SELECT 1 FROM %[2]s o
		      WHERE (m.transaction_id, m."offset") > (o.last_processed_transaction_id, o.offset_acked))`,
		p.schema.MessagesTable(topic), p.offsets.MessagesOffsetsTable(topic))
	tag, err := p.pool.Exec(ctx, q, cutoff)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // nothing published or nobody read yet
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (p *postgresBus) close() error {
	err := p.pub.Close()
	p.pool.Close()
	return err
}
