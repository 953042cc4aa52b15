-- Fuzzy outcomes per entry: one candidate → matched; several → ambiguous (candidates kept in a sorted
-- list). When several single-candidate entries name the same movement, the first by (occurred_at,
-- entry_id) matches and the others record the same Stripe object again: duplicate.
CREATE OR REPLACE TEMP TABLE recon_fuzzy_results AS
WITH per_entry AS (
    SELECT entry_id, count(*) AS n,
           list(balance_transaction_id ORDER BY balance_transaction_id) AS candidates
    FROM recon_fuzzy_candidates
    GROUP BY entry_id
),
single AS (
    SELECT fc.*,
           row_number() OVER (PARTITION BY fc.balance_transaction_id ORDER BY fc.occurred_at, fc.entry_id) AS r
    FROM recon_fuzzy_candidates AS fc
    JOIN per_entry AS pe USING (entry_id)
    WHERE pe.n = 1
)
SELECT entry_id, CASE WHEN r = 1 THEN 'matched' ELSE 'duplicate' END AS outcome,
       balance_transaction_id, object_id, bt_created_at, NULL::VARCHAR[] AS candidates
FROM single
UNION ALL
SELECT entry_id, 'ambiguous', NULL, NULL, NULL, candidates
FROM per_entry WHERE n > 1;
