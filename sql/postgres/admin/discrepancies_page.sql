-- Finance's discrepancy work list (issue 13): optional filters (NULL = any), keyset pagination on the sort key.
-- `sort_amount` = |difference| (else the amount of the side that exists); `sort_date` = occurred_at, else when
-- it was first seen. {key}, {order} and {after} (the keyset condition) are chosen from a whitelist in api/services/admin_discrepancies.py.
WITH d AS (
    SELECT *, abs(coalesce(difference, stripe_amount, ledger_amount, 0)) AS sort_amount,
           coalesce(occurred_at, first_seen_at) AS sort_date
    FROM analytics.discrepancies
)
SELECT discrepancy_id, kind, status, resolution_source, stripe_balance_transaction_id, stripe_object_id,
       ledger_entry_id, payout_id, currency, stripe_amount, ledger_amount, difference, occurred_at, detail,
       first_seen_at, last_seen_at, resolved_at, resolution_note, resolved_by, sort_amount, sort_date
FROM d
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(kind)s::text IS NULL OR kind = %(kind)s)
  AND (%(currency)s::text IS NULL OR currency = %(currency)s)
  AND (%(date_from)s::timestamptz IS NULL OR sort_date >= %(date_from)s)
  AND (%(date_to)s::timestamptz IS NULL OR sort_date < %(date_to)s)
  AND (%(min_amount)s::bigint IS NULL OR sort_amount >= %(min_amount)s)
  {after}
ORDER BY {key} {order}, discrepancy_id {order}
LIMIT %(limit)s
