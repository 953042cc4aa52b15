-- Ledger entries with the Stripe reporting category their type records (DESIGN.md: payment and
-- credit_purchase → charge, refund → refund, dispute → dispute, dispute_reversal → dispute_reversal;
-- any other type, e.g. manual_adjustment, maps to NULL and is not matched).
-- is_direct_key: the stripe_id names the balance transaction's own source object for that category
-- (ch_/py_ payment, re_ refund, dp_ dispute or reversal), so it matches BT.source without any lookup.
CREATE SCHEMA IF NOT EXISTS staging;
CREATE OR REPLACE VIEW staging.stg_ledger_entries AS
SELECT
    entry_id,
    occurred_at,
    type,
    amount,
    currency,
    stripe_id,
    customer_id,
    description,
    source,
    CASE type
        WHEN 'payment' THEN 'charge'
        WHEN 'credit_purchase' THEN 'charge'
        WHEN 'refund' THEN 'refund'
        WHEN 'dispute' THEN 'dispute'
        WHEN 'dispute_reversal' THEN 'dispute_reversal'
    END AS expected_category,
    CASE WHEN stripe_id IS NOT NULL THEN left(stripe_id, 3) END AS stripe_prefix,
    -- One CASE on the 3-character prefix (a slice, no new string per branch); a NULL stripe_id is false.
    coalesce(CASE stripe_id[1:3]
        WHEN 'ch_' THEN type IN ('payment', 'credit_purchase')
        WHEN 'py_' THEN type IN ('payment', 'credit_purchase')
        WHEN 're_' THEN type = 'refund'
        WHEN 'dp_' THEN type IN ('dispute', 'dispute_reversal')
    END, false) AS is_direct_key
FROM raw.ledger_entries;
