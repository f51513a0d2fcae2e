-- Busiest processes per host over the last 24 hours of data: mean and peak CPU, peak memory.
SELECT
    host,
    name,
    exe,
    count() AS samples,
    round(avg(cpu_percent), 2) AS avg_cpu_percent,
    round(max(cpu_percent), 2) AS max_cpu_percent,
    formatReadableSize(max(rss_bytes)) AS max_rss
FROM process_samples
WHERE time >= (SELECT max(time) FROM process_samples) - INTERVAL 24 HOUR
GROUP BY host, name, exe
ORDER BY host, avg_cpu_percent DESC
LIMIT 10 BY host
