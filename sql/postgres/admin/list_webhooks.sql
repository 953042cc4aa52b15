SELECT id, type, status, attempts, last_error, received_at, processed_at, next_attempt_at
FROM webhook_events
WHERE (%(status)s::text IS NULL OR status = %(status)s)
ORDER BY received_at DESC, id
LIMIT %(limit)s OFFSET %(offset)s
