-- Outbound connections by remote address over the last 24 hours of data: who talks to whom, how often.
SELECT
    remote_addr,
    groupUniqArray(remote_port) AS ports,
    uniqExact(host) AS hosts,
    groupUniqArray(process) AS processes,
    count() AS connections,
    min(time) AS first_seen,
    max(time) AS last_seen
FROM connections
WHERE kind = 'connection' AND action = 'opened' AND remote_addr != ''
  AND time >= (SELECT max(time) FROM connections) - INTERVAL 24 HOUR
GROUP BY remote_addr
ORDER BY connections DESC
LIMIT 50
