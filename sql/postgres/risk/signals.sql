-- The counts behind the risk signals of one attempt (cashbook/billing/risk.py), read before it is recorded.
SELECT
    (SELECT count(*) FROM payment_attempts
      WHERE user_id = %(user)s AND kind IN ('credit_purchase', 'subscription')
        AND created_at > now() - make_interval(mins => %(window)s)) AS user_attempts,
    (SELECT count(*) FROM payment_attempts
      WHERE client_ip = %(ip)s AND kind IN ('credit_purchase', 'subscription')
        AND created_at > now() - make_interval(mins => %(window)s)) AS ip_attempts,
    CASE WHEN %(fingerprint)s::text IS NULL THEN NULL ELSE
        (SELECT count(*) FROM (SELECT user_id FROM payment_attempts
                                WHERE card_fingerprint = %(fingerprint)s
                                  AND created_at > now() - make_interval(hours => %(card_hours)s)
                               UNION SELECT %(user)s) u) END AS card_users,
    (SELECT max(amount) FROM payment_attempts
      WHERE user_id = %(user)s AND currency = %(currency)s
        AND status IN ('succeeded', 'active', 'trialing', 'partially_refunded')) AS largest_success,
    (SELECT extract(epoch FROM now() - created_at) / 60 FROM users WHERE id = %(user)s) AS account_age_minutes,
    ARRAY(SELECT status FROM payment_attempts WHERE user_id = %(user)s
          AND kind IN ('credit_purchase', 'subscription', 'invoice')
          ORDER BY created_at DESC, id DESC LIMIT 20) AS recent_statuses
