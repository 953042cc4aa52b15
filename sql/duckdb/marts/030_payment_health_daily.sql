-- marts.payment_health_daily: UTC day x presentment currency, from charges (every attempt is a charge).
-- success_rate = succeeded / attempts; pending charges count as attempts that have not yet succeeded.
-- top_failure_codes: JSON array of the 3 most frequent failure codes, [{"code", "count"}], ties by code.
CREATE OR REPLACE TABLE marts.payment_health_daily AS
WITH ch AS (
    SELECT CAST(to_timestamp(created) AS DATE) AS day, currency, status,
           coalesce(failure_code, CASE WHEN status = 'failed' THEN 'unknown' END) AS failure_code
    FROM raw.stripe_charges
),
codes AS (
    SELECT day, currency, failure_code, count(*) AS n,
           row_number() OVER (PARTITION BY day, currency ORDER BY count(*) DESC, failure_code) AS rk
    FROM ch
    WHERE status = 'failed'
    GROUP BY day, currency, failure_code
),
top_codes AS (
    SELECT day, currency,
           CAST(to_json(list({'code': failure_code, 'count': n} ORDER BY rk)) AS VARCHAR) AS top_failure_codes
    FROM codes
    WHERE rk <= 3
    GROUP BY day, currency
)
SELECT
    a.day,
    a.currency,
    a.attempts,
    a.succeeded,
    a.failed,
    a.pending,
    safe_ratio(a.succeeded, a.attempts) AS success_rate,
    coalesce(t.top_failure_codes, '[]') AS top_failure_codes
FROM (
    SELECT day, currency,
           count(*) AS attempts,
           count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           count(*) FILTER (WHERE status NOT IN ('succeeded', 'failed')) AS pending
    FROM ch
    GROUP BY ALL
) a
LEFT JOIN top_codes t USING (day, currency)
ORDER BY a.day, a.currency;
