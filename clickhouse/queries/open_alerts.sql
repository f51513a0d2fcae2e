-- Open and acknowledged alerts, worst first, with each layer's score (NULL: the layer abstained).
SELECT
    id,
    severity,
    round(score, 3) AS score,
    host,
    entity,
    title,
    count,
    first_seen,
    last_seen,
    status,
    arrayZip(layer_names, layer_scores) AS layers
FROM alerts FINAL
WHERE status != 'resolved'
ORDER BY severity_rank DESC, score DESC, last_seen DESC
LIMIT 100
