-- Ledger entries matched to a Stripe movement with equal amounts (key or fuzzy), for audit and the summary.
CREATE OR REPLACE TEMP TABLE recon_ledger_matches AS
SELECT entry_id, balance_transaction_id, resolved_object_id AS stripe_object_id, currency, amount, 'key' AS method
FROM recon_key_compare
WHERE basis <> 'none' AND compared_amount = amount
UNION ALL
SELECT f.entry_id, f.balance_transaction_id, f.object_id, e.currency, e.amount, 'fuzzy'
FROM recon_fuzzy_results AS f
JOIN staging.stg_ledger_entries AS e USING (entry_id)
WHERE f.outcome = 'matched';
