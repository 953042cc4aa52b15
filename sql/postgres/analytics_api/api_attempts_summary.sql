-- The API's own payment attempts (payment_attempts) over a range of UTC days: counts by status and fraud decision.
SELECT currency, count(*) AS attempts,
       count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'blocked') AS blocked,
       count(*) FILTER (WHERE status = 'manual_review') AS manual_review,
       count(*) FILTER (WHERE risk_decision = 'allow') AS risk_allow,
       count(*) FILTER (WHERE risk_decision = 'review') AS risk_review,
       count(*) FILTER (WHERE risk_decision = 'block') AS risk_block,
       count(*) FILTER (WHERE risk_decision IS NULL) AS risk_unscored,
       coalesce(sum(amount) FILTER (WHERE status = 'succeeded'), 0)::bigint AS succeeded_amount
FROM payment_attempts
WHERE created_at >= %(from)s::date AND created_at < %(to)s::date + 1
  AND (%(currency)s::text IS NULL OR currency = %(currency)s)
GROUP BY currency
ORDER BY currency
