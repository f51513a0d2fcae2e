-- CPU use per host in 5-minute steps over the last 24 hours of data.
SELECT
    host,
    toStartOfFiveMinutes(time) AS t,
    round(avg(value), 2) AS avg_cpu_user,
    round(max(value), 2) AS max_cpu_user
FROM host_metrics
WHERE name = 'cpu.user' AND time >= (SELECT max(time) FROM host_metrics) - INTERVAL 24 HOUR
GROUP BY host, t
ORDER BY host, t
