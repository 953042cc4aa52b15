-- marts.revenue_monthly: calendar month (UTC) x settlement currency, the sum of revenue_daily.
-- Converted columns use the latest exchange rate on or before the month's last day; they are NULL
-- without a rate (no reporting currency / no CSV), so per-currency figures are never mixed.
CREATE OR REPLACE TABLE marts.revenue_monthly AS
WITH m AS (
    SELECT
        CAST(date_trunc('month', day) AS DATE) AS month,
        currency,
        CAST(sum(gross) AS BIGINT)    AS gross,
        CAST(sum(refunds) AS BIGINT)  AS refunds,
        CAST(sum(disputes) AS BIGINT) AS disputes,
        CAST(sum(other) AS BIGINT)    AS other,
        CAST(sum(fees) AS BIGINT)     AS fees,
        CAST(sum(net) AS BIGINT)      AS net,
        CAST(sum(payouts) AS BIGINT)  AS payouts,
        CAST(sum(charge_count) AS BIGINT)  AS charge_count,
        CAST(sum(refund_count) AS BIGINT)  AS refund_count,
        CAST(sum(dispute_count) AS BIGINT) AS dispute_count,
        CAST(sum(dispute_reversal_count) AS BIGINT) AS dispute_reversal_count,
        CAST(sum(other_count) AS BIGINT)   AS other_count,
        CAST(sum(payout_count) AS BIGINT)  AS payout_count,
        CAST(sum(balance_transaction_count) AS BIGINT) AS balance_transaction_count
    FROM marts.revenue_daily
    GROUP BY ALL
),
fx AS (
    SELECT m.month, m.currency, r.reporting_currency, r.rate
    FROM m
    ASOF LEFT JOIN marts.exchange_rates r
        ON r.currency = m.currency AND r.rate_date <= CAST(m.month + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE)
)
SELECT
    m.*,
    fx.reporting_currency,
    fx.rate AS exchange_rate,
    convert_minor(m.gross, m.currency, fx.rate, fx.reporting_currency) AS gross_reporting,
    convert_minor(m.net, m.currency, fx.rate, fx.reporting_currency)   AS net_reporting
FROM m
LEFT JOIN fx USING (month, currency)
ORDER BY month, currency;
