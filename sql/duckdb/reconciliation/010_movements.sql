-- Stripe customer-money movements: balance transactions of reporting_category charge, refund, dispute or
-- dispute_reversal, with settlement amount and currency. Presentment amounts and customers are looked up
-- later, only for the few movements that need them (foreign-currency pairs, the unmatched residue), so
-- the big key join stays a plain hash join.
-- key_rank orders several balance transactions of one dispute and category (a dispute can have more than
-- one): only the first is the key-match target, the others stay open for the later passes. Charges and
-- refunds have exactly one balance transaction each (charge.balance_transaction, refund.balance_transaction),
-- so only the dispute categories are ranked: no GROUP BY over millions of charges.
-- A view: the key join is its only big reader.
CREATE OR REPLACE TEMP VIEW recon_movements AS
WITH bts AS (
    SELECT balance_transaction_id, source_id, reporting_category, created_at, amount, currency
    FROM staging.stg_balance_transactions
    WHERE is_customer_movement
),
repeated AS (
    SELECT source_id, reporting_category FROM bts
    WHERE reporting_category IN ('dispute', 'dispute_reversal')
    GROUP BY ALL HAVING count(*) > 1
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
    coalesce(r.key_rank, 1) AS key_rank
FROM bts
LEFT JOIN ranks AS r ON r.balance_transaction_id = bts.balance_transaction_id;
