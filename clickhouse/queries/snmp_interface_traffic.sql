-- Busiest device interfaces by mean inbound plus outbound traffic.
SELECT
    device,
    labels['interface'] AS interface,
    round(avgIf(value, name = 'if.in_octets_per_s')) AS in_bytes_per_s,
    round(avgIf(value, name = 'if.out_octets_per_s')) AS out_bytes_per_s,
    count() AS samples
FROM snmp_metrics
WHERE name IN ('if.in_octets_per_s', 'if.out_octets_per_s')
GROUP BY device, interface
ORDER BY in_bytes_per_s + out_bytes_per_s DESC
LIMIT 50
