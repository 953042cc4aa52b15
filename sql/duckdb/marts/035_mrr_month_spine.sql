-- MRR (DESIGN "Metric definitions"): invoice-line MRR snapshotted at the last instant of each UTC month.
-- marts.mrr_month_spine: every snapshot month, from the first month any line contributes to the month of
-- the newest invoice. snapshot_at is the month's last second, UTC (Stripe times are whole seconds), as a
-- timestamp; compare Stripe's Unix-second columns with to_timestamp(...). is_complete: the snapshot instant
-- lies before the newest balance transaction landed, so the month has ended in the data; the running month is
-- provisional (renewals not yet invoiced).
CREATE OR REPLACE TABLE marts.mrr_month_spine AS
WITH bounds AS (
    SELECT
        date_trunc('month', to_timestamp(min(period_start) FILTER (WHERE line_type = 'subscription'))) AS first_month,
        date_trunc('month', to_timestamp(max(invoice_created))) AS last_month
    FROM staging.stg_invoice_lines
)
SELECT
    CAST(m AS DATE) AS month,
    CAST(m + INTERVAL 1 MONTH - INTERVAL 1 SECOND AS TIMESTAMPTZ) AS snapshot_at,
    CAST(epoch(m + INTERVAL 1 MONTH) AS BIGINT) - 1
        < coalesce((SELECT max(created) FROM raw.stripe_balance_transactions), 0) AS is_complete
FROM bounds, generate_series(first_month, last_month, INTERVAL 1 MONTH) AS g(m)
WHERE first_month IS NOT NULL
ORDER BY month;
