-- Rows stored per telemetry table per day: is every collector still writing?
SELECT day, table, rows FROM
(
    SELECT toDate(time) AS day, 'process_events' AS table, count() AS rows FROM process_events GROUP BY day
    UNION ALL SELECT toDate(time), 'process_samples', count() FROM process_samples GROUP BY toDate(time)
    UNION ALL SELECT toDate(time), 'connections', count() FROM connections GROUP BY toDate(time)
    UNION ALL SELECT toDate(time), 'host_metrics', count() FROM host_metrics GROUP BY toDate(time)
    UNION ALL SELECT toDate(time), 'snmp_metrics', count() FROM snmp_metrics GROUP BY toDate(time)
    UNION ALL SELECT toDate(time), 'devices', count() FROM devices GROUP BY toDate(time)
)
ORDER BY day DESC, table
