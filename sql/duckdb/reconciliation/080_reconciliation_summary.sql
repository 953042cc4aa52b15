-- Counts and amounts by section, kind and currency: every discrepancy kind; the matched ledger entries; and
-- balance transactions whose reporting_category Stripe does not document (kept, not matched, reported here).
-- Every ledger entry of a matchable type is either matched or the ledger_entry_id of exactly one discrepancy,
-- so matched = matchable entries − entries named by a discrepancy (per ledger currency). Deriving it keeps
-- millions of matched pairs out of any table.
CREATE SCHEMA IF NOT EXISTS marts;
CREATE OR REPLACE TABLE marts.reconciliation_summary AS
WITH matchable AS (
    SELECT currency, count(*) AS n, sum(amount) AS amount
    FROM staging.stg_ledger_entries
    WHERE expected_category IS NOT NULL
    GROUP BY currency
),
-- An entry a discrepancy names is a kept key-join row or a side entry (indirect or without stripe_id): those
-- two tables hold every such entry with its ledger currency and amount, so the ledger is not scanned again for
-- them (entry_id is the entry's identity; the ledger readers refuse duplicates). Each is semi-joined to the named
-- entries before the union, so a ledger of millions of side entries (pi_/in_ ids) is never deduplicated whole.
named AS (
    SELECT DISTINCT ledger_entry_id AS entry_id FROM marts.discrepancies WHERE ledger_entry_id IS NOT NULL
),
flagged AS (
    SELECT currency, count(*) AS n, sum(amount) AS amount
    FROM (
        SELECT entry_id, currency, amount FROM recon_key_pairs SEMI JOIN named USING (entry_id)
        UNION
        SELECT entry_id, currency, amount FROM recon_side_entries SEMI JOIN named USING (entry_id)
    )
    GROUP BY currency
)
SELECT * FROM (
    SELECT 'discrepancy' AS section, kind, currency, count(*) AS count,
           sum(stripe_amount)::BIGINT AS stripe_amount, sum(ledger_amount)::BIGINT AS ledger_amount,
           sum(difference)::BIGINT AS difference
    FROM marts.discrepancies
    GROUP BY ALL
    UNION ALL
    SELECT 'matched', 'matched', m.currency, m.n - coalesce(f.n, 0),
           (m.amount - coalesce(f.amount, 0))::BIGINT, (m.amount - coalesce(f.amount, 0))::BIGINT, 0::BIGINT
    FROM matchable AS m
    LEFT JOIN flagged AS f USING (currency)
    WHERE m.n - coalesce(f.n, 0) > 0
    UNION ALL
    SELECT 'unknown_reporting_category', reporting_category, currency, count(*), sum(amount)::BIGINT, NULL, NULL
    FROM staging.stg_balance_transactions
    WHERE NOT is_known_category
    GROUP BY ALL
)
ORDER BY section, kind, currency;
