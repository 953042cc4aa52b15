-- Discrepancy rows that identify nothing: without any Stripe, ledger or payout id an operator cannot act
-- on them (DESIGN Contract 3). Empty result = pass.
SELECT discrepancy_id, kind, currency, difference, occurred_at, detail
FROM marts.discrepancies
WHERE stripe_balance_transaction_id IS NULL
  AND stripe_object_id IS NULL
  AND ledger_entry_id IS NULL
  AND payout_id IS NULL
ORDER BY discrepancy_id;
