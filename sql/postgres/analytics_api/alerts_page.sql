-- Open alerts and those resolved in the last N days, newest first, keyset-paged by (first_seen_at, alert_id).
SELECT alert_id, rule, dedup_key, scope, severity, status, summary, last_value::double precision AS last_value,
       threshold::double precision AS threshold, links, first_seen_at, last_seen_at, paged_at, resolved_at,
       last_page_error
FROM analytics.alerts
WHERE (status = 'open' OR resolved_at >= now() - make_interval(days => %(days)s))
  AND (%(severity)s::text IS NULL OR severity = %(severity)s)
  AND (%(after_at)s::timestamptz IS NULL OR (first_seen_at, alert_id) < (%(after_at)s::timestamptz, %(after_id)s::bigint))
ORDER BY first_seen_at DESC, alert_id DESC
LIMIT %(limit)s
