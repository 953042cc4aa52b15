-- Disputes: presentment amount (positive, as Stripe sends it) and the disputed charge.
CREATE SCHEMA IF NOT EXISTS staging;
CREATE OR REPLACE VIEW staging.stg_disputes AS
SELECT
    id AS dispute_id,
    to_timestamp(created) AS created_at,
    amount,
    currency,
    charge AS charge_id,
    payment_intent AS payment_intent_id,
    status
FROM raw.stripe_disputes;
