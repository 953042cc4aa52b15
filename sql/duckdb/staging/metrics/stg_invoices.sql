-- staging.stg_invoices: one row per invoice with its current status (paid/open invoices carry MRR).
CREATE OR REPLACE VIEW staging.stg_invoices AS
SELECT
    id                       AS invoice_id,
    customer                 AS customer_id,
    subscription             AS subscription_id,
    status,
    currency,
    amount_due,
    amount_paid,
    amount_remaining,
    subtotal,
    total,
    charge                   AS charge_id,
    payment_intent           AS payment_intent_id,
    billing_reason,
    created,
    to_timestamp(created)    AS created_at,
    period_start,
    period_end,
    paid_at
FROM raw.stripe_invoices;
