SELECT alert_id, rule, dedup_key, scope, severity, status, summary, last_value, threshold, links,
       first_seen_at, last_seen_at, paged_at, resolved_at, last_page_error
FROM analytics.alerts
WHERE (%(status)s::text IS NULL OR status = %(status)s)
ORDER BY first_seen_at DESC, alert_id DESC
LIMIT %(limit)s OFFSET %(offset)s
