-- Key matching as one FULL OUTER JOIN of keyed ledger entries and movements on (resolved object, category):
-- rows with both sides are key pairs; rows without an entry are the movements no key took (the residue for
-- the fuzzy pass and missing_in_ledger); rows without a movement are entries with no Stripe counterpart.
-- dup_rank = 1 is the original record of (type, object); later ones (by occurred_at, entry_id) are the
-- extra entries reported as duplicate_in_ledger.
CREATE OR REPLACE TEMP TABLE recon_key_pairs AS
WITH repeated AS (
    SELECT type, object_key FROM recon_entry_keys GROUP BY ALL HAVING count(*) > 1
),
ranks AS (
    SELECT entry_id,
           row_number() OVER (PARTITION BY type, object_key ORDER BY occurred_at, entry_id) AS dup_rank
    FROM recon_entry_keys
    SEMI JOIN repeated USING (type, object_key)
),
entries AS (
    SELECT ek.*, coalesce(r.dup_rank, 1) AS dup_rank
    FROM recon_entry_keys AS ek
    LEFT JOIN ranks AS r ON r.entry_id = ek.entry_id
)
SELECT
    e.*,
    m.balance_transaction_id,
    m.object_id AS bt_object_id,
    m.category AS bt_category,
    m.created_at AS bt_created_at,
    m.settlement_amount,
    m.settlement_currency
FROM entries AS e
FULL OUTER JOIN recon_movements AS m
    ON m.object_id = e.resolved_object_id AND m.category = e.expected_category AND m.key_rank = 1;
