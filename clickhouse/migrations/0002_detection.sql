-- Feature vectors, alerts (live and replayed), dead letters and replay runs.

CREATE TABLE IF NOT EXISTS features
(
    id         String CODEC(ZSTD(1)),
    host       LowCardinality(String),
    key_kind   LowCardinality(String),
    key        String CODEC(ZSTD(1)),
    entity     LowCardinality(String),
    window     LowCardinality(String),
    start      DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    end        DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    names      Array(LowCardinality(String)),
    values     Array(Float64) CODEC(ZSTD(1)),
    normalised Array(Float64) CODEC(ZSTD(1)),
    flags      Array(LowCardinality(String)),
    event_ids  Array(String) CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(start)
ORDER BY (host, key_kind, key, window, start, id)
TTL toDateTime(start) + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- An alert is a row per update: ack, resolve, a new repeat or a re-score each write the whole
-- alert again with a higher `version`; ReplacingMergeTree(version) keeps the newest, and
-- queries read the current state with FINAL (or argMax by version).
-- Partitioned by first_seen, which never changes for an id, so every version meets at merge.
CREATE TABLE IF NOT EXISTS alerts
(
    id           String,
    version      UInt64,
    time         DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),  -- event time of the last update
    updated_at   DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),  -- max(time, status_at)
    host         LowCardinality(String),
    entity_kind  LowCardinality(String),
    entity       String,
    entity_key   String,
    title        String,
    summary      String CODEC(ZSTD(3)),
    severity     LowCardinality(String),
    severity_rank UInt8,
    score        Float64,
    layer_names  Array(LowCardinality(String)),           -- the layer breakdown, flat ...
    layer_scores Array(Nullable(Float64)),                -- NULL: the layer abstained
    layer_weights Array(Float64),
    layer_contributions Array(Float64),
    layers       String CODEC(ZSTD(3)),                   -- ... and whole, as JSON (reasons)
    tags         Array(LowCardinality(String)),
    evidence_ids Array(String) CODEC(ZSTD(3)),
    count        UInt64,
    first_seen   DateTime64(6, 'UTC'),
    last_seen    DateTime64(6, 'UTC'),
    status       LowCardinality(String),
    status_by    String,
    status_at    Nullable(DateTime64(6, 'UTC')),
    history      String CODEC(ZSTD(3)),                   -- JSON
    cause        String,
    run_id       String
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(first_seen)
ORDER BY (host, id)
TTL toDateTime(last_seen) + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- Alerts produced by replay runs, kept apart from live alerts and keyed by run.
CREATE TABLE IF NOT EXISTS alerts_replay AS alerts
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(first_seen)
ORDER BY (run_id, host, id)
TTL toDateTime(last_seen) + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS dead_letter
(
    time    DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),  -- when it was refused (processing time)
    source  LowCardinality(String),                     -- component that refused it
    target  LowCardinality(String),                     -- table or stage it was meant for
    reason  String,
    id      String,                                     -- the event id, when it had one
    payload String CODEC(ZSTD(3))
)
ENGINE = MergeTree
PARTITION BY toDate(time)
ORDER BY (time, source)
TTL toDateTime(time) + INTERVAL {retention_days} DAY;

CREATE TABLE IF NOT EXISTS replay_runs
(
    run_id      String,
    version     UInt64,                                 -- newest row wins
    status      LowCardinality(String),                 -- running | done | failed
    pipeline    String,
    from_time   DateTime64(6, 'UTC'),
    to_time     DateTime64(6, 'UTC'),
    hosts       Array(String),
    started_at  DateTime64(6, 'UTC'),
    finished_at Nullable(DateTime64(6, 'UTC')),
    events      UInt64,
    alerts      UInt64,
    error       String,
    params      String                                  -- JSON: anything else the run needs
)
ENGINE = ReplacingMergeTree(version)
ORDER BY run_id;
