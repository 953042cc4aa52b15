-- Open pending rows whose ids this run reports under another kind (the grace window ran out): superseded.
UPDATE analytics.discrepancies AS d
SET status = 'resolved', resolution_source = 'superseded', resolved_at = %(seen_at)s, last_run_id = %(run_id)s,
    resolution_note = 'became ' || r.kind || ' ' || r.discrepancy_id
FROM _run_discrepancies AS r
WHERE d.status = 'open' AND d.kind = 'pending' AND r.kind <> 'pending'
  AND d.stripe_balance_transaction_id IS NOT DISTINCT FROM r.stripe_balance_transaction_id
  AND d.stripe_object_id IS NOT DISTINCT FROM r.stripe_object_id
  AND d.ledger_entry_id IS NOT DISTINCT FROM r.ledger_entry_id
  AND d.payout_id IS NOT DISTINCT FROM r.payout_id
  AND NOT EXISTS (SELECT 1 FROM _run_discrepancies x WHERE x.discrepancy_id = d.discrepancy_id)
