-- Open alerts of the evaluated rules whose figure is back within the threshold.
UPDATE analytics.alerts
SET status = 'resolved', resolved_at = %(now)s, last_seen_at = %(now)s
WHERE status = 'open' AND rule = ANY(%(rules)s) AND NOT (dedup_key = ANY(%(still_breached)s))
RETURNING alert_id
