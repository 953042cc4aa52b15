-- Currencies where marts.revenue_daily does not add up to the raw balance transactions it was built from:
-- amounts (all buckets), fees and net of non-payout transactions, and counts. Empty result = pass.
WITH mart AS (
    SELECT currency,
           sum(gross + refunds + disputes + other + payouts) AS amount,
           sum(fees) AS fees, sum(net) AS net, sum(balance_transaction_count) AS n
    FROM marts.revenue_daily GROUP BY currency
),
raw AS (
    SELECT currency, sum(amount) AS amount,
           sum(fee) FILTER (WHERE reporting_category NOT IN ('payout', 'payout_reversal')) AS fees,
           sum(net) FILTER (WHERE reporting_category NOT IN ('payout', 'payout_reversal')) AS net,
           count(*) AS n
    FROM raw.stripe_balance_transactions GROUP BY currency
)
SELECT coalesce(m.currency, r.currency) AS currency,
       m.amount AS mart_amount, r.amount AS raw_amount, m.fees AS mart_fees, r.fees AS raw_fees,
       m.net AS mart_net, r.net AS raw_net, m.n AS mart_count, r.n AS raw_count
FROM mart m FULL OUTER JOIN raw r ON m.currency = r.currency
WHERE m.amount IS DISTINCT FROM r.amount
   OR coalesce(m.fees, 0) <> coalesce(r.fees, 0)
   OR coalesce(m.net, 0) <> coalesce(r.net, 0)
   OR m.n IS DISTINCT FROM r.n
ORDER BY 1;
