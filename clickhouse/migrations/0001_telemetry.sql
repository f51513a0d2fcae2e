-- Telemetry, one table per kind. Every row carries the event's stable `id`.
--
-- A retried insert never double-counts:
--  1. Every insert carries insert_deduplication_token = hash of its rows, and the tables keep
--     non_replicated_deduplication_window tokens: a retried batch (the clickhouse output retries
--     the same rows in the same order, and Benthos redelivers a nacked batch unchanged) is
--     dropped at insert time, so plain count() stays exact.
--  2. Event tables (process_events, connections, devices) are ReplacingMergeTree with `id` at
--     the end of ORDER BY: rows of one event that arrive in different blocks (a batch re-cut
--     after a crash) also collapse; queries that must be exact before merges use FINAL.
--     The high-volume sample tables (process_samples, host_metrics, snmp_metrics) are plain
--     MergeTree with LZ4 behind their Delta/Gorilla codecs: ReplacingMergeTree costs them 2-3x
--     the CPU per row and ZSTD another 25% (docs/benchmarks/warehouse.md); a sample duplicated
--     by a re-cut batch is dropped by readers with LIMIT 1 BY id (as the clickhouse input does).
-- {retention_days} is substituted by `amoskys migrate` from config (warehouse.retention_days).

CREATE TABLE IF NOT EXISTS process_events
(
    id                  String CODEC(ZSTD(1)),
    kind                LowCardinality(String),              -- process_exec | process_exit
    time                DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    host                LowCardinality(String),
    source              LowCardinality(String),
    pid                 Int32 CODEC(ZSTD(1)),
    ppid                Int32 CODEC(ZSTD(1)),
    start_time          DateTime64(6, 'UTC') CODEC(ZSTD(1)),
    name                LowCardinality(String),
    exe                 LowCardinality(String),
    cmdline             String CODEC(ZSTD(3)),
    cwd                 LowCardinality(String),
    exe_deleted         Bool,
    exe_in_writable_dir Bool,
    uid                 UInt32,
    euid                UInt32,
    suid                UInt32,
    gid                 UInt32,
    egid                UInt32,
    sgid                UInt32,
    user                LowCardinality(String),
    tty                 LowCardinality(String),
    cgroup              LowCardinality(String),
    container_id        LowCardinality(String),
    cap_eff             LowCardinality(String),
    socket_fds          Int32,
    stdio_socket        Bool,
    ancestry_pids       Array(Int32) CODEC(ZSTD(1)),
    ancestry_names      Array(LowCardinality(String)),
    ancestry_exes       Array(String) CODEC(ZSTD(3)),
    ancestry_cmdlines   Array(String) CODEC(ZSTD(3)),
    ancestry_uids       Array(UInt32) CODEC(ZSTD(1)),
    ancestry_euids      Array(UInt32) CODEC(ZSTD(1)),
    exit_code           Nullable(Int32),
    labels              Map(LowCardinality(String), String) CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(time)
ORDER BY (host, time, pid, id)
TTL toDateTime(time) + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS process_samples
(
    id          String,
    time        DateTime64(6, 'UTC') CODEC(Delta, LZ4),
    host        LowCardinality(String),
    source      LowCardinality(String),
    pid         Int32 CODEC(ZSTD(1)),
    ppid        Int32 CODEC(ZSTD(1)),
    start_time  DateTime64(6, 'UTC') CODEC(ZSTD(1)),
    name        LowCardinality(String),
    exe         LowCardinality(String),
    cmdline     String CODEC(ZSTD(3)),
    uid         UInt32,
    euid        UInt32,
    user        LowCardinality(String),
    cpu_percent Float64 CODEC(Gorilla, LZ4),
    rss_bytes   UInt64 CODEC(T64, LZ4),
    threads     Int32 CODEC(T64, LZ4),
    fds         Int32 CODEC(T64, LZ4),
    read_bytes  UInt64 CODEC(Delta, LZ4),
    write_bytes UInt64 CODEC(Delta, LZ4),
    labels      Map(LowCardinality(String), String)
)
ENGINE = MergeTree
PARTITION BY toDate(time)
ORDER BY (host, time, pid, id)
TTL toDateTime(time) + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- Kinds connection (opened/closed sockets) and listener (listening sockets appearing/going away).
CREATE TABLE IF NOT EXISTS connections
(
    id          String CODEC(ZSTD(1)),
    kind        LowCardinality(String),
    time        DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    host        LowCardinality(String),
    source      LowCardinality(String),
    action      LowCardinality(String),
    proto       LowCardinality(String),
    local_addr  LowCardinality(String),
    local_port  UInt16,
    remote_addr String CODEC(ZSTD(1)),
    remote_port UInt16,
    state       LowCardinality(String),
    pid         Int32 CODEC(ZSTD(1)),
    process     LowCardinality(String),
    exe         LowCardinality(String),
    uid         UInt32,
    labels      Map(LowCardinality(String), String) CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(time)
ORDER BY (host, time, kind, local_port, id)
TTL toDateTime(time) + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- Metrics are read per series, so the series name comes before time.
CREATE TABLE IF NOT EXISTS host_metrics
(
    id     String,
    time   DateTime64(6, 'UTC') CODEC(Delta, LZ4),
    host   LowCardinality(String),
    source LowCardinality(String),
    name   LowCardinality(String),
    value  Float64 CODEC(Gorilla, LZ4),
    unit   LowCardinality(String),
    labels Map(LowCardinality(String), String)
)
ENGINE = MergeTree
PARTITION BY toDate(time)
ORDER BY (host, name, time, id)
TTL toDateTime(time) + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS snmp_metrics
(
    id     String,
    time   DateTime64(6, 'UTC') CODEC(Delta, LZ4),
    host   LowCardinality(String),
    source LowCardinality(String),
    device LowCardinality(String),
    name   LowCardinality(String),
    value  Float64 CODEC(Gorilla, LZ4),
    unit   LowCardinality(String),
    labels Map(LowCardinality(String), String)
)
ENGINE = MergeTree
PARTITION BY toDate(time)
ORDER BY (host, device, name, time, id)
TTL toDateTime(time) + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS devices
(
    id            String CODEC(ZSTD(1)),
    time          DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    host          LowCardinality(String),
    source        LowCardinality(String),
    action        LowCardinality(String),
    address       String,
    mac           String,
    sys_name      String,
    sys_descr     String CODEC(ZSTD(3)),
    sys_object_id LowCardinality(String),
    via           LowCardinality(String),
    labels        Map(LowCardinality(String), String) CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(time)
ORDER BY (host, time, address, id)
TTL toDateTime(time) + INTERVAL {retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;
