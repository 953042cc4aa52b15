-- staging.stg_customers: one row per Stripe customer; signup time drives cohort_retention.
CREATE OR REPLACE VIEW staging.stg_customers AS
SELECT
    id                       AS customer_id,
    created,
    to_timestamp(created)    AS created_at,
    email,
    name,
    currency,
    delinquent
FROM raw.stripe_customers;
