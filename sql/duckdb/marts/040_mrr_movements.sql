-- marts.mrr_movements: one row per customer x currency x month in which the customer had MRR at the
-- previous or the current snapshot. Movement of previous -> current:
--   new (first time > 0), reactivation (0 -> > 0 again), expansion, contraction, churn (> 0 -> 0), unchanged.
-- Each row's signed delta satisfies previous_mrr + delta = mrr; the monthly identity follows by summing.
CREATE OR REPLACE TABLE marts.mrr_movements AS
WITH firsts AS (
    SELECT customer_id, currency, min(month) AS first_month
    FROM marts.mrr_customer_monthly
    GROUP BY ALL
),
grid AS (
    SELECT f.customer_id, f.currency, sp.month, f.first_month, coalesce(c.mrr, 0) AS mrr
    FROM firsts f
    JOIN marts.mrr_month_spine sp ON sp.month >= f.first_month
    LEFT JOIN marts.mrr_customer_monthly c
        ON c.customer_id = f.customer_id AND c.currency = f.currency AND c.month = sp.month
),
lagged AS (
    SELECT *, coalesce(lag(mrr) OVER (PARTITION BY customer_id, currency ORDER BY month), 0) AS previous_mrr
    FROM grid
)
SELECT
    month,
    customer_id,
    currency,
    CAST(previous_mrr AS BIGINT) AS previous_mrr,
    CAST(mrr AS BIGINT) AS mrr,
    CAST(mrr - previous_mrr AS BIGINT) AS mrr_change,
    CASE
        WHEN previous_mrr = 0 AND mrr > 0 AND month = first_month THEN 'new'
        WHEN previous_mrr = 0 AND mrr > 0 THEN 'reactivation'
        WHEN previous_mrr > 0 AND mrr = 0 THEN 'churn'
        WHEN mrr > previous_mrr THEN 'expansion'
        WHEN mrr < previous_mrr THEN 'contraction'
        ELSE 'unchanged'
    END AS movement
FROM lagged
WHERE previous_mrr <> 0 OR mrr <> 0
ORDER BY month, currency, customer_id;
