-- Stripe customer-money movements: balance transactions of reporting_category charge, refund, dispute or
-- dispute_reversal (exactly the is_customer_movement categories of staging.stg_reporting_categories), with
-- settlement amount and currency. Presentment amounts and customers are looked up later, only for the few
-- movements that need them (foreign-currency pairs, the unmatched residue), so the big key join stays a plain
-- hash join.
-- key_rank orders several balance transactions of one dispute and category (a dispute can have more than
-- one): only the first is the key-match target, the others stay open for the later passes. Charges and
-- refunds have exactly one balance transaction each (charge.balance_transaction, refund.balance_transaction),
-- so they are rank 1 without any lookup; only dispute-category rows (few) are ranked, in their own small
-- branch, so the millions of charge rows pass through no join and no window.
-- Read straight from raw (the columns of staging.stg_balance_transactions): that view's LEFT JOIN to the
-- category list would be a hash probe per balance transaction, and the category filter does the same job.
-- A view: the key join is its only big reader.
CREATE OR REPLACE TEMP VIEW recon_movements AS
WITH disputes AS (
    SELECT id AS balance_transaction_id, source AS source_id, reporting_category, to_timestamp(created) AS created_at,
           amount, currency
    FROM raw.stripe_balance_transactions
    WHERE reporting_category IN ('dispute', 'dispute_reversal')
)
SELECT
    id AS balance_transaction_id,
    source AS object_id,
    reporting_category AS category,
    to_timestamp(created) AS created_at,
    amount AS settlement_amount,
    currency AS settlement_currency,
    1 AS key_rank
FROM raw.stripe_balance_transactions
WHERE reporting_category IN ('charge', 'refund')
UNION ALL
SELECT
    balance_transaction_id,
    source_id,
    reporting_category,
    created_at,
    amount,
    currency,
    row_number() OVER (PARTITION BY source_id, reporting_category ORDER BY created_at, balance_transaction_id)
FROM disputes;
