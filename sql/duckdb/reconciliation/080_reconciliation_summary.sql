-- Counts and amounts by section, kind and currency: every discrepancy kind, the matched entries, and
-- balance transactions whose reporting_category Stripe does not document (kept, not matched, reported here).
CREATE SCHEMA IF NOT EXISTS marts;
CREATE OR REPLACE TABLE marts.reconciliation_summary AS
SELECT * FROM (
    SELECT 'discrepancy' AS section, kind, currency, count(*) AS count,
           sum(stripe_amount)::BIGINT AS stripe_amount, sum(ledger_amount)::BIGINT AS ledger_amount,
           sum(difference)::BIGINT AS difference
    FROM marts.discrepancies
    GROUP BY ALL
    UNION ALL
    SELECT 'matched', 'matched', currency, count(*), sum(amount)::BIGINT, sum(amount)::BIGINT, 0::BIGINT
    FROM recon_ledger_matches
    GROUP BY ALL
    UNION ALL
    SELECT 'unknown_reporting_category', reporting_category, currency, count(*), sum(amount)::BIGINT, NULL, NULL
    FROM staging.stg_balance_transactions
    WHERE NOT is_known_category
    GROUP BY ALL
)
ORDER BY section, kind, currency;
