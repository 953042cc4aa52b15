-- marts.mrr_customer_monthly: each customer's MRR per currency at each month end (only months with MRR <> 0).
-- A line contributes when it is a non-proration subscription line of a paid or open invoice, its period
-- covers the instant (period_start <= t < period_end), and its subscription has not ended before the
-- instant (ended_at is NULL or ended_at >= t), t = the spine's snapshot_at. Contribution = (amount - discount
-- amounts) normalised to a month, rounded half-even per line:
-- month / n, year / (12 n), week * 52 / (12 n), day * 365 / (12 n), n = interval_count.
-- Line periods and ended_at are Stripe Unix seconds, so the comparison is made in whole seconds (exact).
CREATE OR REPLACE TABLE marts.mrr_customer_monthly AS
WITH spine AS (
    SELECT month, CAST(epoch(snapshot_at) AS BIGINT) AS t FROM marts.mrr_month_spine
),
lines AS (
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
JOIN spine sp
    ON l.period_start <= sp.t AND l.period_end > sp.t
WHERE l.ended_at IS NULL OR l.ended_at >= sp.t
GROUP BY ALL
HAVING sum(div_half_even(l.billed * l.mult, l.divisor)) <> 0;
