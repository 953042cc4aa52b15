-- Refunds: presentment amount (positive, as Stripe sends it) and the charge they return.
CREATE SCHEMA IF NOT EXISTS staging;
CREATE OR REPLACE VIEW staging.stg_refunds AS
SELECT
    id AS refund_id,
    to_timestamp(created) AS created_at,
    amount,
    currency,
    charge AS charge_id,
    payment_intent AS payment_intent_id,
    balance_transaction AS balance_transaction_id,
    status
FROM raw.stripe_refunds;
