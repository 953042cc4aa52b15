-- MRR (DESIGN "Metric definitions"): invoice-line MRR snapshotted at the last instant of each UTC month.
-- A line contributes when it is a non-proration subscription line of a paid or open invoice, its period
-- covers the instant (period_start <= t < period_end), and its subscription has not ended before the
-- instant (ended_at is NULL or ended_at >= t). The instant t is the month's last second (Stripe times are
-- whole seconds). Contribution = (amount - discount amounts) normalised to a month, rounded half-even per line:
-- month / n, year / (12 n), week * 52 / (12 n), day * 365 / (12 n), n = interval_count.

-- marts.mrr_month_spine: every snapshot month, from the first month any line contributes to the month of
-- the newest invoice. is_complete: the snapshot instant lies before the newest balance transaction landed,
-- so the month has ended in the data; the running month is provisional (renewals not yet invoiced).
CREATE OR REPLACE TABLE marts.mrr_month_spine AS
WITH bounds AS (
    SELECT
        date_trunc('month', to_timestamp(min(period_start) FILTER (WHERE line_type = 'subscription'))) AS first_month,
        date_trunc('month', to_timestamp(max(invoice_created))) AS last_month
    FROM staging.stg_invoice_lines
)
SELECT
    CAST(m AS DATE) AS month,
    CAST(epoch(m + INTERVAL 1 MONTH) AS BIGINT) - 1 AS snapshot_at,
    CAST(epoch(m + INTERVAL 1 MONTH) AS BIGINT) - 1
        < coalesce((SELECT max(created) FROM raw.stripe_balance_transactions), 0) AS is_complete
FROM bounds, generate_series(first_month, last_month, INTERVAL 1 MONTH) AS g(m)
WHERE first_month IS NOT NULL;

-- marts.mrr_customer_monthly: each customer's MRR per currency at each month end (only months with MRR > 0).
CREATE OR REPLACE TABLE marts.mrr_customer_monthly AS
WITH lines AS (
    SELECT
        l.customer_id,
        l.currency,
        l.period_start,
        l.period_end,
        s.ended_at,
        l.amount - l.discount_amount AS billed,
        CASE l.recurring_interval
            WHEN 'month' THEN 1 WHEN 'year' THEN 1 WHEN 'week' THEN 52 WHEN 'day' THEN 365
        END AS mult,
        CASE l.recurring_interval
            WHEN 'month' THEN 1 ELSE 12
        END * l.recurring_interval_count AS divisor
    FROM staging.stg_invoice_lines l
    LEFT JOIN staging.stg_subscriptions s ON s.subscription_id = l.subscription_id
    WHERE l.line_type = 'subscription'
      AND NOT l.proration
      AND l.invoice_status IN ('paid', 'open')
      AND l.recurring_interval IN ('month', 'year', 'week', 'day')
)
SELECT
    sp.month,
    l.customer_id,
    l.currency,
    CAST(sum(div_half_even(l.billed * l.mult, l.divisor)) AS BIGINT) AS mrr,
    count(*) AS line_count
FROM lines l
JOIN marts.mrr_month_spine sp
    ON l.period_start <= sp.snapshot_at AND l.period_end > sp.snapshot_at
WHERE l.ended_at IS NULL OR l.ended_at >= sp.snapshot_at
GROUP BY ALL
HAVING sum(div_half_even(l.billed * l.mult, l.divisor)) <> 0;

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
