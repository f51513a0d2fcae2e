-- Executables first seen in the last hour of data, on any host: never executed before that hour.
WITH (SELECT max(time) FROM process_events) AS latest
SELECT
    exe,
    min(time) AS first_seen,
    groupUniqArray(host) AS hosts,
    count() AS execs,
    any(cmdline) AS example_cmdline
FROM process_events
WHERE kind = 'process_exec' AND exe != ''
GROUP BY exe
HAVING first_seen >= latest - INTERVAL 1 HOUR
ORDER BY first_seen DESC
LIMIT 100
