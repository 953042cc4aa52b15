-- The residue: movements no key match took, with presentment amount (signed like the BT) and customer.
CREATE OR REPLACE TEMP TABLE recon_open_movements AS
WITH residue AS (
    SELECT balance_transaction_id, bt_object_id, bt_category, bt_created_at, settlement_amount, settlement_currency
    FROM recon_key_pairs
    WHERE entry_id IS NULL
),
-- refunds and disputes among the residue: their charge and their own presentment amount
children AS (
    SELECT refund_id AS object_id, charge_id, amount, currency FROM staging.stg_refunds
    SEMI JOIN residue AS r ON r.bt_object_id = refund_id
    UNION ALL
    SELECT dispute_id, charge_id, amount, currency FROM staging.stg_disputes
    SEMI JOIN residue AS r ON r.bt_object_id = dispute_id
),
linked AS (
    SELECT r.*, ch.charge_id AS parent_charge_id, ch.amount AS child_amount, ch.currency AS child_currency
    FROM residue AS r
    LEFT JOIN children AS ch ON ch.object_id = r.bt_object_id
),
charges AS (
    SELECT charge_id, amount, currency, customer_id FROM staging.stg_charges
    SEMI JOIN (SELECT coalesce(parent_charge_id, bt_object_id) AS charge_id FROM linked) AS w USING (charge_id)
)
SELECT
    l.balance_transaction_id,
    l.bt_object_id AS object_id,
    l.bt_category AS category,
    l.bt_created_at AS created_at,
    l.settlement_amount,
    l.settlement_currency,
    coalesce(l.child_currency, c.currency) AS presentment_currency,
    CASE WHEN l.settlement_amount < 0 THEN -abs(coalesce(l.child_amount, c.amount))
         ELSE abs(coalesce(l.child_amount, c.amount)) END AS presentment_amount,
    c.customer_id
FROM linked AS l
LEFT JOIN charges AS c ON c.charge_id = coalesce(l.parent_charge_id, l.bt_object_id);

-- Fuzzy pass: ledger entries without stripe_id against the residue. A candidate has the entry's category,
-- customer (the BT's customer via its charge), currency and exact amount (settlement, or signed
-- presentment in the presentment currency), and is within ±2 days of the entry. Day partitions play no
-- part: 23:59:59 and 00:00:03 the next day are 4 seconds apart.
CREATE OR REPLACE TEMP TABLE recon_fuzzy_candidates AS
WITH loose AS (
    SELECT * FROM recon_side_entries
    WHERE stripe_id IS NULL AND customer_id IS NOT NULL
)
SELECT e.entry_id, e.occurred_at, m.balance_transaction_id, m.object_id, m.created_at AS bt_created_at
FROM loose AS e
JOIN recon_open_movements AS m
    ON m.category = e.expected_category
   AND m.customer_id = e.customer_id
   AND m.created_at BETWEEN e.occurred_at - INTERVAL 2 DAY AND e.occurred_at + INTERVAL 2 DAY
WHERE (m.settlement_currency = e.currency AND m.settlement_amount = e.amount)
   OR (m.presentment_currency = e.currency AND m.presentment_amount = e.amount);
