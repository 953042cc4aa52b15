-- A human fixed the cause: put a parked event back in the queue (its effects are exactly-once).
UPDATE webhook_events SET status = 'pending', next_attempt_at = now(), attempts = 0
WHERE id = %(id)s AND status IN ('manual_review', 'failed')
RETURNING id
