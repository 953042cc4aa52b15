-- One page of the API's payment attempts, newest first, keyset-paged by (created_at, id).
SELECT id, user_id, kind, stripe_id, amount, currency, status, failure_message, risk_score, risk_decision,
       risk_reasons, created_at, updated_at
FROM payment_attempts
WHERE created_at >= %(from)s::date AND created_at < %(to)s::date + 1
  AND (%(currency)s::text IS NULL OR currency = %(currency)s)
  AND (%(after_at)s::timestamptz IS NULL OR (created_at, id) < (%(after_at)s::timestamptz, %(after_id)s::text))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
