-- Stripe customer-money movements: the balance transactions staging marks is_customer_movement (reporting_category
-- charge, refund, dispute or dispute_reversal: the one list is staging.stg_reporting_categories), with settlement
-- amount and currency. Presentment amounts and customers are looked up later, only for the few movements that
-- need them (foreign-currency pairs, the unmatched residue), so the big key join stays a plain hash join.
-- key_rank orders several balance transactions of one dispute and category (a dispute can have more than
-- one): only the first is the key-match target, the others stay open for the later passes. Charges and
-- refunds have exactly one balance transaction each (charge.balance_transaction, refund.balance_transaction),
-- so they are rank 1 without any lookup; only dispute-category rows (few) are ranked, in their own small
-- branch, so the millions of charge rows pass through no window.
-- A view: the key join is its only big reader. Each branch reads staging itself, with its category filter pushed
-- into the Parquet scan, instead of sharing a CTE: DuckDB materialises a CTE that two branches read, which wrote
-- every movement once more before the join (10M in day files: key join 2.34–2.41 s instead of 2.58–2.88,
-- the same rows).
CREATE OR REPLACE TEMP VIEW recon_movements AS
SELECT balance_transaction_id, source_id AS object_id, reporting_category AS category, created_at,
       amount AS settlement_amount, currency AS settlement_currency, 1 AS key_rank
FROM staging.stg_balance_transactions
WHERE is_customer_movement AND reporting_category NOT IN ('dispute', 'dispute_reversal')
UNION ALL
SELECT balance_transaction_id, source_id, reporting_category, created_at, amount, currency,
       row_number() OVER (PARTITION BY source_id, reporting_category ORDER BY created_at, balance_transaction_id)
FROM staging.stg_balance_transactions
WHERE is_customer_movement AND reporting_category IN ('dispute', 'dispute_reversal');
