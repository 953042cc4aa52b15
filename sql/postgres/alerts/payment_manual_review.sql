-- Webhook events parked because a payment could not be booked automatically (see api/services/state.py
-- ManualReview): one row per event; `last_error` starts with the exception class name.
SELECT id, type, last_error
FROM webhook_events
WHERE status = 'manual_review' AND (last_error LIKE 'UnmatchedPayment:%%' OR last_error LIKE 'AmountMismatch:%%')
ORDER BY received_at
