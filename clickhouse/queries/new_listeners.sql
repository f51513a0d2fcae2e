-- Listening sockets that appeared in the last hour of data on a (host, proto, port) never seen listening before.
WITH (SELECT max(time) FROM connections WHERE kind = 'listener') AS latest
SELECT
    host,
    proto,
    local_addr,
    local_port,
    argMin(process, time) AS process,
    argMin(exe, time) AS exe,
    min(time) AS first_seen
FROM connections
WHERE kind = 'listener' AND action = 'opened'
GROUP BY host, proto, local_addr, local_port
HAVING first_seen >= latest - INTERVAL 1 HOUR
ORDER BY first_seen DESC
