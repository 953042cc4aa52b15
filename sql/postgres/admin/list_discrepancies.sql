-- Finance's work list: filters are optional (NULL = any); newest first, keyset pagination on (occurred_at, id).
SELECT discrepancy_id, kind, status, resolution_source, stripe_balance_transaction_id, stripe_object_id,
       ledger_entry_id, payout_id, currency, stripe_amount, ledger_amount, difference, occurred_at, detail,
       first_seen_at, last_seen_at, resolved_at, resolution_note, resolved_by
FROM analytics.discrepancies
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(kind)s::text IS NULL OR kind = %(kind)s)
  AND (%(currency)s::text IS NULL OR currency = %(currency)s)
  AND (%(payout_id)s::text IS NULL OR payout_id = %(payout_id)s)
ORDER BY abs(coalesce(difference, 0)) DESC, discrepancy_id
LIMIT %(limit)s OFFSET %(offset)s
