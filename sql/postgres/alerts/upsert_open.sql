-- Open an alert, or refresh the open one with the same dedup key (one open row per key).
INSERT INTO analytics.alerts AS a (rule, dedup_key, scope, severity, status, summary, last_value, threshold, links,
                                   first_seen_at, last_seen_at)
VALUES (%(rule)s, %(dedup_key)s, %(scope)s, %(severity)s, 'open', %(summary)s, %(value)s, %(threshold)s,
        %(links)s, %(now)s, %(now)s)
ON CONFLICT (dedup_key) WHERE status = 'open' DO UPDATE SET
    summary = EXCLUDED.summary, last_value = EXCLUDED.last_value, threshold = EXCLUDED.threshold,
    links = EXCLUDED.links, severity = EXCLUDED.severity, last_seen_at = EXCLUDED.last_seen_at
RETURNING alert_id, (xmax = 0) AS inserted
