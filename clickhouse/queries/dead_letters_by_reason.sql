-- Refused messages by component and reason, with one example payload each.
SELECT
    source,
    target,
    reason,
    count() AS messages,
    min(time) AS first,
    max(time) AS last,
    substring(any(payload), 1, 200) AS example
FROM dead_letter
GROUP BY source, target, reason
ORDER BY messages DESC
LIMIT 100
