-- The residue: movements no key match took, with presentment amount (signed like the BT) and customer.
CREATE OR REPLACE TEMP TABLE recon_open_movements AS
SELECT
    kp.balance_transaction_id,
    kp.bt_object_id AS object_id,
    kp.bt_category AS category,
    kp.bt_created_at AS created_at,
    kp.settlement_amount,
    kp.settlement_currency,
    o.currency AS presentment_currency,
    CASE WHEN kp.settlement_amount < 0 THEN -abs(o.amount) ELSE abs(o.amount) END AS presentment_amount,
    o.customer_id
FROM recon_key_pairs AS kp
LEFT JOIN recon_stripe_objects AS o ON o.object_id = kp.bt_object_id
WHERE kp.entry_id IS NULL;

-- Fuzzy pass: ledger entries without stripe_id against the residue. A candidate has the entry's category,
-- customer (the BT's customer via its charge), currency and exact amount (settlement, or signed
-- presentment in the presentment currency), and is within ±2 days of the entry. Day partitions play no
-- part: 23:59:59 and 00:00:03 the next day are 4 seconds apart.
CREATE OR REPLACE TEMP TABLE recon_fuzzy_candidates AS
WITH loose AS (
    SELECT * FROM staging.stg_ledger_entries
    WHERE stripe_id IS NULL AND expected_category IS NOT NULL AND customer_id IS NOT NULL
)
SELECT e.entry_id, e.occurred_at, m.balance_transaction_id, m.object_id, m.created_at AS bt_created_at
FROM loose AS e
JOIN recon_open_movements AS m
    ON m.category = e.expected_category
   AND m.customer_id = e.customer_id
   AND m.created_at BETWEEN e.occurred_at - INTERVAL 2 DAY AND e.occurred_at + INTERVAL 2 DAY
WHERE (m.settlement_currency = e.currency AND m.settlement_amount = e.amount)
   OR (m.presentment_currency = e.currency AND m.presentment_amount = e.amount);
