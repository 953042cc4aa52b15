-- Audit report section: ledger entries that occurred in the period (API and manual ones alike).
SELECT entry_id AS id, occurred_at, NULL::text AS actor, type AS kind, amount, currency, stripe_id AS reference,
       jsonb_build_object('customer_id', customer_id, 'description', description) AS detail
FROM ledger_entries
WHERE occurred_at >= %(start)s AND occurred_at < %(end)s
ORDER BY occurred_at, entry_id
