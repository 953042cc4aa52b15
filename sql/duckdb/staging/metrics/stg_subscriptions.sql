-- staging.stg_subscriptions: one row per subscription; ended_at bounds its MRR (DESIGN: "has not ended before it").
CREATE OR REPLACE VIEW staging.stg_subscriptions AS
SELECT
    id                        AS subscription_id,
    customer                  AS customer_id,
    status,
    currency,
    created,
    start_date,
    cancel_at_period_end,
    cancel_at,
    canceled_at,
    ended_at,
    trial_start,
    trial_end,
    current_period_start,
    current_period_end,
    to_timestamp(ended_at)    AS ended_at_ts
FROM raw.stripe_subscriptions;
