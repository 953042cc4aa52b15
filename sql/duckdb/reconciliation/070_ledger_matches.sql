-- Ledger entries matched to a Stripe movement with equal amounts (key or fuzzy), for audit and the summary.
CREATE SCHEMA IF NOT EXISTS reconciliation;
CREATE OR REPLACE TABLE reconciliation.ledger_matches AS
SELECT entry_id, balance_transaction_id, resolved_object_id AS stripe_object_id, currency, amount, 'key' AS method
FROM reconciliation.key_pairs
WHERE dup_rank = 1 AND balance_transaction_id IS NOT NULL AND basis <> 'none' AND compared_amount = amount
UNION ALL
SELECT f.entry_id, f.balance_transaction_id, f.object_id, e.currency, e.amount, 'fuzzy'
FROM reconciliation.fuzzy_results AS f
JOIN staging.stg_ledger_entries AS e USING (entry_id)
WHERE f.outcome = 'matched';
