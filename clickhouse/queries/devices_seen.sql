-- Network devices and their latest state as discovery saw them.
SELECT
    address,
    argMax(mac, time) AS mac,
    argMax(sys_name, time) AS sys_name,
    argMax(action, time) AS last_action,
    min(time) AS first_seen,
    max(time) AS last_seen,
    groupUniqArray(via) AS via
FROM devices
GROUP BY address
ORDER BY last_seen DESC
