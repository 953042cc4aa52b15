-- Payouts: amount is positive for money sent to the bank; their own balance transaction is negative.
CREATE SCHEMA IF NOT EXISTS staging;
CREATE OR REPLACE VIEW staging.stg_payouts AS
SELECT
    id AS payout_id,
    to_timestamp(created) AS created_at,
    to_timestamp(arrival_date) AS arrival_at,
    amount,
    currency,
    status,
    coalesce(automatic, false) AS automatic,
    reconciliation_status,
    balance_transaction AS balance_transaction_id
FROM raw.stripe_payouts;
