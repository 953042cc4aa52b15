-- How many alerts the alerts page covers: open ones and those resolved in the last N days.
SELECT count(*) FILTER (WHERE status = 'open') AS open_count,
       count(*) FILTER (WHERE status = 'resolved') AS resolved_count
FROM analytics.alerts
WHERE (status = 'open' OR resolved_at >= now() - make_interval(days => %(days)s))
  AND (%(severity)s::text IS NULL OR severity = %(severity)s)
