-- Fuzzy pass: ledger entries without stripe_id against the movements no key match took. A candidate has
-- the entry's category, customer (the BT's customer via its charge), currency and exact amount (settlement,
-- or signed presentment in the presentment currency), and is within ±2 days of the entry. Day partitions
-- play no part: 23:59:59 and 00:00:03 the next day are 4 seconds apart.
CREATE SCHEMA IF NOT EXISTS reconciliation;
CREATE OR REPLACE TABLE reconciliation.fuzzy_candidates AS
WITH loose AS (
    SELECT * FROM staging.stg_ledger_entries
    WHERE stripe_id IS NULL AND expected_category IS NOT NULL AND customer_id IS NOT NULL
),
open_movements AS (
    SELECT m.*
    FROM reconciliation.movements AS m
    SEMI JOIN (SELECT DISTINCT customer_id FROM loose) AS lc USING (customer_id)
    ANTI JOIN (
        SELECT balance_transaction_id FROM reconciliation.key_pairs WHERE balance_transaction_id IS NOT NULL
    ) AS taken USING (balance_transaction_id)
)
SELECT e.entry_id, e.occurred_at, m.balance_transaction_id, m.object_id, m.created_at AS bt_created_at
FROM loose AS e
JOIN open_movements AS m
    ON m.category = e.expected_category
   AND m.customer_id = e.customer_id
   AND m.created_at BETWEEN e.occurred_at - INTERVAL 2 DAY AND e.occurred_at + INTERVAL 2 DAY
WHERE (m.settlement_currency = e.currency AND m.settlement_amount = e.amount)
   OR (m.presentment_currency = e.currency AND m.presentment_amount = e.amount);
