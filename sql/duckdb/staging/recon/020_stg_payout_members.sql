-- Payout membership (GET /v1/balance_transactions?payout=po_…), one row per (payout, balance transaction).
CREATE SCHEMA IF NOT EXISTS staging;
CREATE OR REPLACE VIEW staging.stg_payout_members AS
SELECT DISTINCT payout AS payout_id, balance_transaction AS balance_transaction_id
FROM raw.stripe_payout_balance_transactions;
