-- Webhook events received in the last hour and how many of them failed or were parked for review.
SELECT count(*) AS received,
       count(*) FILTER (WHERE status IN ('failed', 'manual_review')) AS errored
FROM webhook_events
WHERE received_at >= %(since)s
