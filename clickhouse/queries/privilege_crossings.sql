-- Processes whose effective uid differs from their real uid (setuid or escalation), with their ancestry.
SELECT
    time,
    host,
    pid,
    name,
    exe,
    uid,
    euid,
    user,
    arrayStringConcat(arrayReverse(ancestry_names), ' > ') AS ancestry,
    cmdline
FROM process_events
WHERE kind = 'process_exec' AND uid != euid
ORDER BY time DESC
LIMIT 100
