-- Balance transactions with UTC timestamps and their reporting-category classification.
-- Amounts stay integer minor units of the settlement currency.
CREATE SCHEMA IF NOT EXISTS staging;
CREATE OR REPLACE VIEW staging.stg_balance_transactions AS
SELECT
    bt.id AS balance_transaction_id,
    to_timestamp(bt.created) AS created_at,
    bt.amount,
    bt.fee,
    bt.net,
    bt.currency,
    bt.type,
    bt.reporting_category,
    bt.source AS source_id,
    bt.status,
    coalesce(rc.is_customer_movement, false) AS is_customer_movement,
    rc.category IS NOT NULL AS is_known_category
FROM raw.stripe_balance_transactions AS bt
LEFT JOIN staging.stg_reporting_categories AS rc ON rc.category = bt.reporting_category;
