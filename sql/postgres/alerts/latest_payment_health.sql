-- Latest complete UTC day per currency with enough attempts to be meaningful.
SELECT currency, day, attempts, success_rate
FROM (
    SELECT currency, day, attempts, success_rate,
           row_number() OVER (PARTITION BY currency ORDER BY day DESC) AS rk
    FROM analytics.payment_health_daily
    WHERE day < %(today)s AND attempts >= %(min_attempts)s
) t
WHERE rk = 1
