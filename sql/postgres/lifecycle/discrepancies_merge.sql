-- Merge one run's discrepancies (already COPYed into temp table _run_discrepancies) into analytics.discrepancies.
-- Parameters: %(seen_at)s the run's timestamp, %(run_id)s the Dagster run id.
INSERT INTO analytics.discrepancies AS d (
    discrepancy_id, kind, stripe_balance_transaction_id, stripe_object_id, ledger_entry_id, payout_id, currency,
    stripe_amount, ledger_amount, difference, occurred_at, detail, status, first_seen_at, last_seen_at, last_run_id
)
SELECT discrepancy_id, kind, stripe_balance_transaction_id, stripe_object_id, ledger_entry_id, payout_id, currency,
       stripe_amount, ledger_amount, difference, occurred_at, detail, 'open', %(seen_at)s, %(seen_at)s, %(run_id)s
FROM _run_discrepancies
ON CONFLICT (discrepancy_id) DO UPDATE SET
    stripe_amount = EXCLUDED.stripe_amount,
    ledger_amount = EXCLUDED.ledger_amount,
    difference    = EXCLUDED.difference,
    detail        = EXCLUDED.detail,
    last_seen_at  = EXCLUDED.last_seen_at,
    last_run_id   = EXCLUDED.last_run_id,
    -- an auto-resolved discrepancy that is found again reopens; a manual resolution stands
    status        = CASE WHEN d.resolution_source = 'manual' THEN d.status ELSE 'open' END,
    resolution_source = CASE WHEN d.resolution_source = 'manual' THEN 'manual' ELSE NULL END,
    resolved_at   = CASE WHEN d.resolution_source = 'manual' THEN d.resolved_at ELSE NULL END;
