-- Stripe customer-money movements: balance transactions of reporting_category charge, refund, dispute
-- or dispute_reversal, with their source object's presentment amount signed like the balance transaction
-- (refunds and disputes negative) and the customer of the underlying charge (for the fuzzy pass).
-- key_rank orders several balance transactions of one object and category (a dispute can have more
-- than one): only the first is the key-match target, the others stay open for the later passes.
CREATE SCHEMA IF NOT EXISTS reconciliation;
CREATE OR REPLACE TABLE reconciliation.movements AS
WITH objects AS (
    SELECT charge_id AS object_id, charge_id, amount, currency FROM staging.stg_charges
    UNION ALL
    SELECT refund_id, charge_id, amount, currency FROM staging.stg_refunds
    UNION ALL
    SELECT dispute_id, charge_id, amount, currency FROM staging.stg_disputes
),
bts AS (
    SELECT * FROM staging.stg_balance_transactions WHERE is_customer_movement
),
repeated AS (
    SELECT source_id, reporting_category FROM bts GROUP BY ALL HAVING count(*) > 1
),
ranks AS (
    SELECT
        bts.balance_transaction_id,
        row_number() OVER (
            PARTITION BY bts.source_id, bts.reporting_category
            ORDER BY bts.created_at, bts.balance_transaction_id
        ) AS key_rank
    FROM bts
    SEMI JOIN repeated USING (source_id, reporting_category)
)
SELECT
    bts.balance_transaction_id,
    bts.source_id AS object_id,
    bts.reporting_category AS category,
    bts.created_at,
    bts.amount AS settlement_amount,
    bts.currency AS settlement_currency,
    o.currency AS presentment_currency,
    CASE
        WHEN o.amount IS NULL THEN NULL
        WHEN bts.amount < 0 THEN -abs(o.amount)
        ELSE abs(o.amount)
    END AS presentment_amount,
    o.charge_id,
    c.customer_id,
    coalesce(r.key_rank, 1) AS key_rank
FROM bts
LEFT JOIN objects AS o ON o.object_id = bts.source_id
LEFT JOIN staging.stg_charges AS c ON c.charge_id = o.charge_id
LEFT JOIN ranks AS r ON r.balance_transaction_id = bts.balance_transaction_id;
