-- marts.mrr_monthly: month x currency. Movement columns are positive magnitudes, so exactly
--   previous_mrr + new_mrr + reactivation_mrr + expansion_mrr - contraction_mrr - churned_mrr = mrr
-- (checked by the SQL asset check). Every currency has a row for every month from its first MRR on,
-- including months where it fell to 0, so the identity chains month to month.
-- customers = customers with MRR > 0; ARPA = MRR / customers, rounded half-even in minor units.
-- is_complete = false marks the running month (provisional: renewals may not be invoiced yet).
CREATE OR REPLACE TABLE marts.mrr_monthly AS
WITH cur AS (
    SELECT currency, min(month) AS first_month FROM marts.mrr_movements GROUP BY ALL
),
grid AS (
    SELECT sp.month, c.currency FROM cur c JOIN marts.mrr_month_spine sp ON sp.month >= c.first_month
),
agg AS (
    SELECT
        month,
        currency,
        sum(mrr) AS mrr,
        sum(previous_mrr) AS previous_mrr,
        sum(mrr) FILTER (WHERE movement = 'new') AS new_mrr,
        sum(mrr_change) FILTER (WHERE movement = 'expansion') AS expansion_mrr,
        -sum(mrr_change) FILTER (WHERE movement = 'contraction') AS contraction_mrr,
        sum(previous_mrr) FILTER (WHERE movement = 'churn') AS churned_mrr,
        sum(mrr) FILTER (WHERE movement = 'reactivation') AS reactivation_mrr,
        count(*) FILTER (WHERE mrr > 0) AS customers,
        count(*) FILTER (WHERE previous_mrr > 0) AS previous_customers,
        count(*) FILTER (WHERE movement = 'new') AS new_customers,
        count(*) FILTER (WHERE movement = 'churn') AS churned_customers,
        count(*) FILTER (WHERE movement = 'reactivation') AS reactivated_customers,
        count(*) FILTER (WHERE movement = 'expansion') AS expansion_customers,
        count(*) FILTER (WHERE movement = 'contraction') AS contraction_customers
    FROM marts.mrr_movements
    GROUP BY ALL
),
base AS (
    SELECT
        g.month,
        g.currency,
        CAST(coalesce(a.mrr, 0) AS BIGINT) AS mrr,
        CAST(coalesce(a.previous_mrr, 0) AS BIGINT) AS previous_mrr,
        CAST(coalesce(a.new_mrr, 0) AS BIGINT) AS new_mrr,
        CAST(coalesce(a.expansion_mrr, 0) AS BIGINT) AS expansion_mrr,
        CAST(coalesce(a.contraction_mrr, 0) AS BIGINT) AS contraction_mrr,
        CAST(coalesce(a.churned_mrr, 0) AS BIGINT) AS churned_mrr,
        CAST(coalesce(a.reactivation_mrr, 0) AS BIGINT) AS reactivation_mrr,
        coalesce(a.customers, 0) AS customers,
        coalesce(a.previous_customers, 0) AS previous_customers,
        coalesce(a.new_customers, 0) AS new_customers,
        coalesce(a.churned_customers, 0) AS churned_customers,
        coalesce(a.reactivated_customers, 0) AS reactivated_customers,
        coalesce(a.expansion_customers, 0) AS expansion_customers,
        coalesce(a.contraction_customers, 0) AS contraction_customers
    FROM grid g
    LEFT JOIN agg a USING (month, currency)
),
fx AS (
    SELECT b.month, b.currency, r.reporting_currency, r.rate
    FROM base b
    ASOF LEFT JOIN marts.exchange_rates r
        ON r.currency = b.currency AND r.rate_date <= CAST(b.month + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE)
)
SELECT
    b.*,
    CASE WHEN b.customers > 0 THEN CAST(div_half_even(b.mrr, b.customers) AS BIGINT) END AS arpa,
    b.mrr * 12 AS arr,
    fx.reporting_currency,
    fx.rate AS exchange_rate,
    convert_minor(b.mrr, b.currency, fx.rate, fx.reporting_currency) AS mrr_reporting,
    sp.is_complete
FROM base b
LEFT JOIN fx USING (month, currency)
JOIN marts.mrr_month_spine sp USING (month)
ORDER BY b.month, b.currency;
