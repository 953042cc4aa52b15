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
    -- starts_with is a byte comparison (left() builds a new string per row); the prefixes are ASCII, so both
    -- agree, and a NULL stripe_id is false.
    coalesce(CASE type
        WHEN 'payment' THEN starts_with(stripe_id, 'ch_') OR starts_with(stripe_id, 'py_')
        WHEN 'credit_purchase' THEN starts_with(stripe_id, 'ch_') OR starts_with(stripe_id, 'py_')
        WHEN 'refund' THEN starts_with(stripe_id, 're_')
        WHEN 'dispute' THEN starts_with(stripe_id, 'dp_')
        WHEN 'dispute_reversal' THEN starts_with(stripe_id, 'dp_')
    END, false) AS is_direct_key
FROM raw.ledger_entries;
