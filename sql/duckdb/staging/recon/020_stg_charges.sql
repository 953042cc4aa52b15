-- Charges (presentment amount and currency) with the links used to resolve pi_/in_ ledger ids.
CREATE SCHEMA IF NOT EXISTS staging;
CREATE OR REPLACE VIEW staging.stg_charges AS
SELECT
    id AS charge_id,
    to_timestamp(created) AS created_at,
    amount,
    amount_refunded,
    currency,
    customer AS customer_id,
    payment_intent AS payment_intent_id,
    invoice AS invoice_id,
    balance_transaction AS balance_transaction_id,
    status
FROM raw.stripe_charges;
