-- marts.revenue_daily: UTC day x settlement currency, from balance transactions only (DESIGN).
-- Every non-payout balance transaction lands in exactly one amount bucket, so
--   gross + refunds + disputes + other = sum(amount) of the day's non-payout balance transactions,
--   net = gross + refunds + disputes + other - fees = sum(net) of those transactions,
-- and payouts (money leaving the balance, not revenue) are reported beside them. Unknown
-- reporting_category values go to `other` and are counted in other_count: kept, never dropped.
CREATE OR REPLACE TABLE marts.revenue_daily AS
WITH bt AS (
    SELECT
        CAST(to_timestamp(created) AS DATE) AS day,
        currency,
        reporting_category,
        amount,
        fee,
        net,
        CASE
            WHEN reporting_category = 'charge' THEN 'gross'
            WHEN reporting_category IN ('refund', 'refund_failure', 'partial_capture_reversal') THEN 'refunds'
            WHEN reporting_category IN ('dispute', 'dispute_reversal') THEN 'disputes'
            WHEN reporting_category IN ('payout', 'payout_reversal') THEN 'payouts'
            ELSE 'other'
        END AS bucket
    FROM raw.stripe_balance_transactions
)
SELECT
    day,
    currency,
    CAST(coalesce(sum(amount) FILTER (WHERE bucket = 'gross'), 0) AS BIGINT)    AS gross,
    CAST(coalesce(sum(amount) FILTER (WHERE bucket = 'refunds'), 0) AS BIGINT)  AS refunds,
    CAST(coalesce(sum(amount) FILTER (WHERE bucket = 'disputes'), 0) AS BIGINT) AS disputes,
    CAST(coalesce(sum(amount) FILTER (WHERE bucket = 'other'), 0) AS BIGINT)    AS other,
    CAST(coalesce(sum(fee) FILTER (WHERE bucket <> 'payouts'), 0) AS BIGINT)    AS fees,
    CAST(coalesce(sum(net) FILTER (WHERE bucket <> 'payouts'), 0) AS BIGINT)    AS net,
    CAST(coalesce(sum(amount) FILTER (WHERE bucket = 'payouts'), 0) AS BIGINT)  AS payouts,
    count(*) FILTER (WHERE reporting_category = 'charge')                       AS charge_count,
    count(*) FILTER (WHERE bucket = 'refunds')                                  AS refund_count,
    count(*) FILTER (WHERE reporting_category = 'dispute')                      AS dispute_count,
    count(*) FILTER (WHERE reporting_category = 'dispute_reversal')             AS dispute_reversal_count,
    count(*) FILTER (WHERE bucket = 'other')                                    AS other_count,
    count(*) FILTER (WHERE bucket = 'payouts')                                  AS payout_count,
    count(*)                                                                    AS balance_transaction_count
FROM bt
GROUP BY day, currency
ORDER BY day, currency;
