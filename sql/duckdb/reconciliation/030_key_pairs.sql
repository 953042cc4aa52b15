-- Key matching as one FULL OUTER JOIN of keyed ledger entries and movements on (resolved object, category):
-- rows with both sides are key pairs; rows without an entry are the movements no key took (the residue for
-- the fuzzy pass and missing_in_ledger); rows without a movement are entries with no Stripe counterpart.
--
-- Only rows that can produce a finding are kept: a clean pair (an entry whose (type, object) is not repeated,
-- its balance transaction, ledger currency = settlement currency, same amount) is matched and nothing
-- downstream needs it, so millions of matched pairs are never written (marts.reconciliation_summary derives
-- the matched totals). The category half of the key is compared as a 1-byte code (recon_category_code: the
-- four customer-movement categories, the only values expected_category takes; anything else is NULL and so
-- matches nothing, as before): an integer key column instead of a second string takes 2.50–2.56 instead of
-- 2.70–2.91 CPU s at 10M (same process, alternated). A movement of key_rank > 1 gets NULL: never a key target.
-- Repeated (type, object) keys are found first on a 32-bit hash, as equal neighbours of
-- one sort (run on its own so it never competes with the join for memory; sorting 4-byte values instead of
-- 8-byte ones takes 0.73 instead of 1.0 CPU s at 10M rows). At 10M keys the 32-bit hash has ≈ 12k colliding
-- pairs: like any spurious repeat they only keep a few more clean pairs. The sort takes the direct entries as
-- (type, stripe_id) (hashed by 020's narrow pass) plus the indirect ones as (type, resolved object): exactly the
-- keyed entries, so every really repeated key is found. Entries without stripe_id are in the join but have no key:
-- object_key IS NULL keeps them out of the probe (they would all hash alike). (Taking every row with a stripe_id,
-- to skip the per-row key test, saved 0.05 s on a ledger of charge ids but sorted 20M hashes instead of 10M on one
-- of pi_ ids.) A hash collision only keeps a few more rows; the exact ranking below is on the real key, and a kept
-- clean pair makes no finding.
CREATE OR REPLACE TEMP TABLE recon_repeated_keys AS
SELECT DISTINCT h FROM (
    SELECT h, lag(h) OVER (ORDER BY h) AS prev FROM (
        SELECT h FROM recon_direct_hashes WHERE h IS NOT NULL
        UNION ALL
        SELECT (hash(type, object_key) & 4294967295)::UINTEGER FROM recon_indirect
    )
) WHERE h = prev;

CREATE OR REPLACE TEMP MACRO recon_category_code(category) AS
    (CASE category WHEN 'charge' THEN 1 WHEN 'refund' THEN 2 WHEN 'dispute' THEN 3 WHEN 'dispute_reversal' THEN 4 END)::UTINYINT;

CREATE OR REPLACE TEMP TABLE recon_key_candidates AS
WITH joined AS (
    SELECT
        e.*,
        e.object_key IS NOT NULL
            AND (hash(e.type, e.object_key) & 4294967295)::UINTEGER IN (SELECT h FROM recon_repeated_keys) AS is_rep,
        m.balance_transaction_id,
        m.object_id AS bt_object_id,
        m.category AS bt_category,
        m.created_at AS bt_created_at,
        m.settlement_amount,
        m.settlement_currency
    FROM recon_entry_keys AS e
    FULL OUTER JOIN recon_movements AS m
        ON m.object_id = e.resolved_object_id
       AND CASE WHEN m.key_rank = 1 THEN recon_category_code(m.category) END
           = recon_category_code(e.expected_category)
)
SELECT * FROM joined
WHERE NOT coalesce(NOT is_rep AND currency = settlement_currency AND amount = settlement_amount, false);

-- dup_rank = 1 is the original record of (type, object); later ones (by occurred_at, entry_id) are the
-- extra entries reported as duplicate_in_ledger. NULL on movement-only rows.
CREATE OR REPLACE TEMP TABLE recon_key_pairs AS
SELECT
    * EXCLUDE (is_rep),
    CASE
        WHEN entry_id IS NULL THEN NULL
        WHEN is_rep THEN row_number() OVER (PARTITION BY is_rep, type, object_key ORDER BY occurred_at, entry_id)
        ELSE 1
    END AS dup_rank
FROM recon_key_candidates;

-- Every matchable entry that is not a direct key: the indirect ones (their own scan in 020) and those without
-- stripe_id, which rode through the key join as rows without a movement (never clean, so always kept). The fuzzy
-- pass, the discrepancies and the summary read it; customer_id is there for the fuzzy pass, which reads only the
-- entries without stripe_id.
CREATE OR REPLACE TEMP VIEW recon_side_entries AS
SELECT entry_id, occurred_at, type, expected_category, amount, currency, stripe_id, NULL::VARCHAR AS customer_id
FROM recon_indirect_entries
UNION ALL
SELECT entry_id, occurred_at, type, expected_category, amount, currency, stripe_id, customer_id
FROM recon_key_pairs
WHERE entry_id IS NOT NULL AND stripe_id IS NULL;
