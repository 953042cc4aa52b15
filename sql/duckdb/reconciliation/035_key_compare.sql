-- The comparison of key-matched originals, in the ledger's currency: the BT's settlement amount when the
-- currencies agree, else the source object's presentment amount signed like the BT (refunds and disputes
-- negative); neither currency → basis 'none' (currency_mismatch). Presentment is looked up only for the
-- pairs whose ledger currency differs from the settlement currency (clean pairs never got here).
CREATE OR REPLACE TEMP TABLE recon_presentment AS
WITH foreign_pairs AS (
    SELECT entry_id, bt_object_id, settlement_amount
    FROM recon_key_pairs
    WHERE entry_id IS NOT NULL AND balance_transaction_id IS NOT NULL AND dup_rank = 1
      AND currency <> settlement_currency
),
objects AS (
    SELECT charge_id AS object_id, amount, currency FROM staging.stg_charges
    SEMI JOIN foreign_pairs AS f ON f.bt_object_id = charge_id
    UNION ALL
    SELECT refund_id, amount, currency FROM staging.stg_refunds
    SEMI JOIN foreign_pairs AS f ON f.bt_object_id = refund_id
    UNION ALL
    SELECT dispute_id, amount, currency FROM staging.stg_disputes
    SEMI JOIN foreign_pairs AS f ON f.bt_object_id = dispute_id
)
SELECT
    f.entry_id,
    o.currency AS presentment_currency,
    CASE WHEN f.settlement_amount < 0 THEN -abs(o.amount) ELSE abs(o.amount) END AS presentment_amount
FROM foreign_pairs AS f
JOIN objects AS o ON o.object_id = f.bt_object_id;

CREATE OR REPLACE TEMP VIEW recon_key_compare AS
SELECT
    kp.*,
    p.presentment_currency,
    p.presentment_amount,
    CASE
        WHEN kp.currency = kp.settlement_currency THEN 'settlement'
        WHEN kp.currency = p.presentment_currency THEN 'presentment'
        ELSE 'none'
    END AS basis,
    CASE
        WHEN kp.currency = kp.settlement_currency THEN kp.settlement_amount
        WHEN kp.currency = p.presentment_currency THEN p.presentment_amount
    END AS compared_amount
FROM recon_key_pairs AS kp
LEFT JOIN recon_presentment AS p USING (entry_id)
WHERE kp.entry_id IS NOT NULL AND kp.balance_transaction_id IS NOT NULL AND kp.dup_rank = 1;
