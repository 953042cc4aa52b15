-- Key matching as one FULL OUTER JOIN of keyed ledger entries and movements on (resolved object, category):
-- rows with both sides are key pairs; rows without an entry are the movements no key took (the residue for
-- the fuzzy pass and missing_in_ledger); rows without a movement are entries with no Stripe counterpart.
-- dup_rank = 1 is the original record of (type, object); later ones (by occurred_at, entry_id) are the
-- extra entries reported as duplicate_in_ledger.
-- Only rows that can produce a finding are kept: a clean pair (original entry, its balance transaction, same
-- currency as the settlement, same amount) is matched and nothing downstream needs it, so millions of
-- matched pairs are never written anywhere (marts.reconciliation_summary derives the matched totals).
CREATE OR REPLACE TEMP TABLE recon_key_pairs AS
WITH keyed AS MATERIALIZED (
    SELECT entry_id, occurred_at, type, expected_category, amount, currency, stripe_id, resolved_object_id,
           object_key, hash(type, object_key) AS h
    FROM recon_entry_keys
),
repeated AS (
    SELECT h FROM keyed GROUP BY h HAVING count(*) > 1
),
ranks AS (
    SELECT entry_id,
           row_number() OVER (PARTITION BY type, object_key ORDER BY occurred_at, entry_id) AS dup_rank
    FROM keyed
    WHERE h IN (SELECT h FROM repeated)
),
entries AS (
    SELECT k.* EXCLUDE (h), coalesce(r.dup_rank, 1) AS dup_rank
    FROM keyed AS k
    LEFT JOIN ranks AS r ON r.entry_id = k.entry_id
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
    ON m.object_id = e.resolved_object_id AND m.category = e.expected_category AND m.key_rank = 1
WHERE NOT coalesce(
    e.dup_rank = 1 AND e.currency = m.settlement_currency AND e.amount = m.settlement_amount, false
);
