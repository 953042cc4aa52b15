-- marts.cohort_retention: signup-month cohorts (customer.created, UTC) x months since signup, per currency.
-- A customer belongs to the cohort of its signup month in each currency it ever had MRR in.
--   cohort_customers  = customers of the cohort with MRR > 0 at some snapshot
--   retained_customers = those with MRR > 0 at the snapshot `months_since_signup` months after signup
--   starting_mrr      = sum of each member's first non-zero MRR; mrr = the cohort's MRR at that snapshot
-- Retention rates divide by cohort_customers and starting_mrr. Customers missing from the customer
-- stream use their first MRR month as signup month (kept, not dropped).
CREATE OR REPLACE TABLE marts.cohort_retention AS
WITH members AS (
    SELECT
        m.customer_id,
        m.currency,
        coalesce(CAST(date_trunc('month', c.created_at) AS DATE), min(m.month)) AS cohort_month,
        arg_min(m.mrr, m.month) AS starting_mrr
    FROM marts.mrr_customer_monthly m
    LEFT JOIN staging.stg_customers c ON c.customer_id = m.customer_id
    GROUP BY m.customer_id, m.currency, c.created_at
),
cohorts AS (
    SELECT cohort_month, currency, count(*) AS cohort_customers, sum(starting_mrr) AS starting_mrr
    FROM members
    GROUP BY ALL
),
grid AS (
    SELECT c.cohort_month, c.currency, sp.month,
           CAST(datediff('month', c.cohort_month, sp.month) AS INTEGER) AS months_since_signup,
           c.cohort_customers, c.starting_mrr
    FROM cohorts c
    JOIN marts.mrr_month_spine sp ON sp.month >= c.cohort_month
),
active AS (
    SELECT mb.cohort_month, mb.currency, m.month, count(*) AS retained_customers, sum(m.mrr) AS mrr
    FROM members mb
    JOIN marts.mrr_customer_monthly m
        ON m.customer_id = mb.customer_id AND m.currency = mb.currency AND m.mrr > 0
    GROUP BY ALL
)
SELECT
    g.cohort_month,
    g.currency,
    g.months_since_signup,
    g.month,
    g.cohort_customers,
    coalesce(a.retained_customers, 0) AS retained_customers,
    safe_ratio(coalesce(a.retained_customers, 0), g.cohort_customers) AS customer_retention_rate,
    CAST(g.starting_mrr AS BIGINT) AS starting_mrr,
    CAST(coalesce(a.mrr, 0) AS BIGINT) AS mrr,
    safe_ratio(coalesce(a.mrr, 0), g.starting_mrr) AS mrr_retention_rate
FROM grid g
LEFT JOIN active a USING (cohort_month, currency, month)
ORDER BY g.cohort_month, g.currency, g.months_since_signup;
