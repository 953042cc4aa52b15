-- Audit report section: webhook events received in the period and parked for manual review.
SELECT id, received_at AS occurred_at, NULL::text AS actor, type AS kind, NULL::bigint AS amount,
       NULL::text AS currency, NULL::text AS reference,
       jsonb_build_object('attempts', attempts, 'last_error', last_error, 'stripe_created', created) AS detail
FROM webhook_events
WHERE status = 'manual_review' AND received_at >= %(start)s AND received_at < %(end)s
ORDER BY received_at, id
