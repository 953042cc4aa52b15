-- Key matching: each keyed ledger entry against the movement of its resolved object and category.
-- dup_rank = 1 is the original record of (type, object); later ones (by occurred_at, entry_id) are the
-- extra entries reported as duplicate_in_ledger. The comparison is in the ledger's currency: the BT's
-- settlement amount when the currencies agree, else the source object's signed presentment amount;
-- neither → currency_mismatch.
CREATE SCHEMA IF NOT EXISTS reconciliation;
CREATE OR REPLACE TABLE reconciliation.key_pairs AS
WITH paired AS (
    SELECT
        ek.*,
        row_number() OVER (PARTITION BY ek.type, ek.object_key ORDER BY ek.occurred_at, ek.entry_id) AS dup_rank,
        m.balance_transaction_id,
        m.created_at AS bt_created_at,
        m.settlement_amount,
        m.settlement_currency,
        m.presentment_amount,
        m.presentment_currency
    FROM reconciliation.entry_keys AS ek
    LEFT JOIN reconciliation.movements AS m
        ON m.object_id = ek.resolved_object_id AND m.category = ek.expected_category AND m.key_rank = 1
)
SELECT
    *,
    CASE
        WHEN balance_transaction_id IS NULL THEN NULL
        WHEN currency = settlement_currency THEN 'settlement'
        WHEN currency = presentment_currency THEN 'presentment'
        ELSE 'none'
    END AS basis,
    CASE
        WHEN balance_transaction_id IS NULL THEN NULL
        WHEN currency = settlement_currency THEN settlement_amount
        WHEN currency = presentment_currency THEN presentment_amount
    END AS compared_amount
FROM paired;
