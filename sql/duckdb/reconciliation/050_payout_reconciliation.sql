-- Per payout: its amount against the sum of the net of its member balance transactions
-- (GET /v1/balance_transactions?payout=po_…). The membership includes the payout's own balance transaction
-- (reporting_category payout, negative); it is excluded, or every payout would explain itself to zero.
-- A member id with no balance transaction in the export is counted in missing_member_count.
CREATE SCHEMA IF NOT EXISTS marts;
CREATE OR REPLACE TABLE marts.payout_reconciliation AS
WITH members AS (
    SELECT pm.payout_id, pm.balance_transaction_id, bt.net, bt.balance_transaction_id IS NULL AS is_missing
    FROM staging.stg_payout_members AS pm
    JOIN staging.stg_payouts AS p USING (payout_id)
    LEFT JOIN staging.stg_balance_transactions AS bt ON bt.balance_transaction_id = pm.balance_transaction_id
    WHERE NOT coalesce(
        pm.balance_transaction_id = p.balance_transaction_id
        OR (bt.reporting_category = 'payout' AND bt.source_id = p.payout_id),
        false
    )
)
SELECT
    p.payout_id,
    p.currency,
    p.amount,
    coalesce(sum(m.net), 0)::BIGINT AS explained_amount,
    (p.amount - coalesce(sum(m.net), 0))::BIGINT AS unexplained_amount,
    count(m.balance_transaction_id) AS member_count,
    p.status,
    p.reconciliation_status,
    p.automatic,
    p.created_at,
    count(*) FILTER (WHERE m.is_missing) AS missing_member_count
FROM staging.stg_payouts AS p
LEFT JOIN members AS m USING (payout_id)
GROUP BY p.payout_id, p.currency, p.amount, p.status, p.reconciliation_status, p.automatic, p.created_at
ORDER BY p.created_at, p.payout_id;
