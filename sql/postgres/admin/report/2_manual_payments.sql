-- Audit report section: manual payments recorded in the period, with their current state.
SELECT id, created_at AS occurred_at, created_by AS actor, type AS kind, amount, currency, stripe_id AS reference,
       jsonb_build_object('user_id', user_id, 'reason', reason, 'credits', credits, 'status', status,
                          'source', source, 'discrepancy_id', discrepancy_id, 'ledger_entry_id', ledger_entry_id,
                          'approved_by', approved_by, 'rejected_by', rejected_by, 'decision_note', decision_note)
           AS detail
FROM manual_payments
WHERE created_at >= %(start)s AND created_at < %(end)s
ORDER BY created_at, id
