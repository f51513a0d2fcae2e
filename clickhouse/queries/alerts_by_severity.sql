-- Alerts by severity per hour (current version of each alert; FINAL collapses updates).
SELECT
    toStartOfHour(first_seen) AS hour,
    severity,
    count() AS alerts,
    sum(count) AS occurrences,
    countIf(status = 'open') AS still_open
FROM alerts FINAL
GROUP BY hour, severity_rank, severity
ORDER BY hour, severity_rank DESC
