-- The webhook inbox backlog: events still to process (pending, or failed and waiting for a retry), events
-- parked for review, and the oldest waiting event's receipt time (its age is the inbox lag).
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'manual_review') AS manual_review,
       min(received_at) FILTER (WHERE status IN ('pending', 'failed')) AS oldest_waiting_received_at
FROM webhook_events
WHERE status IN ('pending', 'failed', 'manual_review')
