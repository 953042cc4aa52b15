-- marts.discrepancies (DESIGN.md Contract 3). One row per finding; ids per kind:
--   missing_in_ledger / pending (Stripe side): balance transaction + its source object
--   missing_in_stripe / pending (ledger side): ledger entry + the entry's stripe_id (NULL if none)
--   amount_mismatch / currency_mismatch: balance transaction + resolved object + ledger entry
--   duplicate_in_ledger: the extra ledger entry + the object it records + that object's balance transaction
--   ambiguous_match: ledger entry only (candidate balance transactions listed in detail)
--   payout_mismatch: payout only
-- difference = coalesce(stripe_amount, 0) − coalesce(ledger_amount, 0); NULL for currency_mismatch and
-- ambiguous_match, where no single comparable Stripe amount exists. Every amount is in minor units of the row's
-- currency: for currency_mismatch stripe_amount is NULL (the settlement amount is in another currency) and the
-- settlement amount and currency are spelled out in detail. Pending = inside the grace window:
-- the movement or entry is at or after as_of − grace_days.
CREATE SCHEMA IF NOT EXISTS marts;
CREATE OR REPLACE TABLE marts.discrepancies AS
WITH params AS (
    SELECT getvariable('as_of')::TIMESTAMPTZ - to_days(getvariable('grace_days')::INTEGER) AS cutoff
),
-- Key-matched originals that disagree.
key_findings AS (
    SELECT
        CASE basis WHEN 'none' THEN 'currency_mismatch' ELSE 'amount_mismatch' END AS kind,
        balance_transaction_id, resolved_object_id AS stripe_object_id, entry_id AS ledger_entry_id,
        NULL AS payout_id, currency,
        CASE basis WHEN 'none' THEN NULL ELSE compared_amount END AS stripe_amount,
        amount AS ledger_amount,
        CASE basis WHEN 'none' THEN NULL ELSE compared_amount - amount END AS difference,
        bt_created_at AS occurred_at,
        CASE basis
            WHEN 'none' THEN printf('ledger currency %s is neither the settlement currency %s nor the presentment currency %s '
                                    '(Stripe: %d %s settled)', currency, settlement_currency,
                                    coalesce(presentment_currency, '?'), settlement_amount, settlement_currency)
            ELSE printf('%s %s: compared on the %s amount', type, resolved_object_id, basis)
        END AS detail
    FROM recon_key_compare
    WHERE basis = 'none' OR compared_amount IS DISTINCT FROM amount
),
key_duplicates AS (
    SELECT
        'duplicate_in_ledger' AS kind, balance_transaction_id, object_key AS stripe_object_id,
        entry_id AS ledger_entry_id, NULL AS payout_id, currency,
        NULL::BIGINT AS stripe_amount, amount AS ledger_amount, -amount AS difference,
        coalesce(bt_created_at, occurred_at) AS occurred_at,
        printf('another %s entry already records %s', type, object_key) AS detail
    FROM recon_key_pairs
    WHERE entry_id IS NOT NULL AND dup_rank > 1
),
fuzzy_duplicates AS (
    SELECT
        'duplicate_in_ledger' AS kind, f.balance_transaction_id, f.object_id AS stripe_object_id,
        f.entry_id AS ledger_entry_id, NULL AS payout_id, e.currency,
        NULL::BIGINT AS stripe_amount, e.amount AS ledger_amount, -e.amount AS difference,
        f.bt_created_at AS occurred_at,
        printf('another %s entry without stripe_id already matches %s', e.type, f.object_id) AS detail
    FROM recon_fuzzy_results AS f
    JOIN recon_side_entries AS e USING (entry_id)
    WHERE f.outcome = 'duplicate'
),
ambiguous AS (
    SELECT
        'ambiguous_match' AS kind, NULL AS balance_transaction_id, NULL AS stripe_object_id,
        f.entry_id AS ledger_entry_id, NULL AS payout_id, e.currency,
        NULL::BIGINT AS stripe_amount, e.amount AS ledger_amount, NULL::BIGINT AS difference,
        e.occurred_at,
        'candidates: ' || array_to_string(f.candidates, ',') AS detail
    FROM recon_fuzzy_results AS f
    JOIN recon_side_entries AS e USING (entry_id)
    WHERE f.outcome = 'ambiguous'
),
-- Ledger entries (matchable types) with no Stripe counterpart.
unmatched_ledger AS (
    SELECT entry_id, occurred_at, type, amount, currency, stripe_id
    FROM recon_key_pairs
    WHERE entry_id IS NOT NULL AND stripe_id IS NOT NULL AND dup_rank = 1 AND balance_transaction_id IS NULL
    UNION ALL
    SELECT e.entry_id, e.occurred_at, e.type, e.amount, e.currency, e.stripe_id
    FROM recon_side_entries AS e
    ANTI JOIN recon_fuzzy_results AS f USING (entry_id)
    WHERE e.stripe_id IS NULL
),
ledger_side AS (
    SELECT
        CASE WHEN u.occurred_at >= params.cutoff THEN 'pending' ELSE 'missing_in_stripe' END AS kind,
        NULL AS balance_transaction_id, u.stripe_id AS stripe_object_id, u.entry_id AS ledger_entry_id,
        NULL AS payout_id, u.currency, NULL::BIGINT AS stripe_amount, u.amount AS ledger_amount,
        -u.amount AS difference, u.occurred_at,
        printf('%s entry has no Stripe %s', u.type, CASE WHEN u.stripe_id IS NULL THEN 'candidate' ELSE 'movement for ' || u.stripe_id END)
            AS detail
    FROM unmatched_ledger AS u, params
),
-- Movements nobody took: not key-matched, not fuzzy-matched, not a candidate of an ambiguous entry.
stripe_side AS (
    SELECT
        CASE WHEN m.created_at >= params.cutoff THEN 'pending' ELSE 'missing_in_ledger' END AS kind,
        m.balance_transaction_id, m.object_id AS stripe_object_id, NULL AS ledger_entry_id, NULL AS payout_id,
        m.settlement_currency AS currency, m.settlement_amount AS stripe_amount, NULL::BIGINT AS ledger_amount,
        m.settlement_amount AS difference, m.created_at AS occurred_at,
        printf('%s %s has no ledger entry', m.category, m.object_id) AS detail
    FROM recon_open_movements AS m
    ANTI JOIN recon_fuzzy_candidates USING (balance_transaction_id)
    CROSS JOIN params
),
payouts AS (
    SELECT
        'payout_mismatch' AS kind, NULL AS balance_transaction_id, NULL AS stripe_object_id, NULL AS ledger_entry_id,
        payout_id, currency, amount AS stripe_amount, explained_amount AS ledger_amount,
        unexplained_amount AS difference, created_at AS occurred_at,
        printf('payout %s of %d vs net %d of %d member balance transactions%s', payout_id, amount, explained_amount,
               member_count, CASE WHEN missing_member_count > 0
                                  THEN printf(' (%d members not in the export)', missing_member_count) ELSE '' END)
            AS detail
    FROM marts.payout_reconciliation
    WHERE automatic AND (unexplained_amount <> 0 OR missing_member_count > 0)
),
found AS (
    SELECT * FROM key_findings
    UNION ALL SELECT * FROM key_duplicates
    UNION ALL SELECT * FROM fuzzy_duplicates
    UNION ALL SELECT * FROM ambiguous
    UNION ALL SELECT * FROM ledger_side
    UNION ALL SELECT * FROM stripe_side
    UNION ALL SELECT * FROM payouts
)
SELECT
    md5(concat_ws('|', kind, coalesce(balance_transaction_id, ''), coalesce(stripe_object_id, ''),
                  coalesce(ledger_entry_id, ''), coalesce(payout_id, ''))) AS discrepancy_id,
    kind,
    balance_transaction_id::VARCHAR AS stripe_balance_transaction_id,
    stripe_object_id::VARCHAR AS stripe_object_id,
    ledger_entry_id::VARCHAR AS ledger_entry_id,
    payout_id::VARCHAR AS payout_id,
    currency::VARCHAR AS currency,
    stripe_amount::BIGINT AS stripe_amount,
    ledger_amount::BIGINT AS ledger_amount,
    difference::BIGINT AS difference,
    occurred_at::TIMESTAMPTZ AS occurred_at,
    detail::VARCHAR AS detail
FROM found
ORDER BY kind, occurred_at, discrepancy_id;
