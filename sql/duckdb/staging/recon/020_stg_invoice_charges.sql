-- invoice → charge links from both sides of Stripe's basil change: `charge.invoice` (older API
-- versions) and the invoice's own charge / payments (newer), so an in_ ledger id resolves either way.
CREATE SCHEMA IF NOT EXISTS staging;
CREATE OR REPLACE VIEW staging.stg_invoice_charges AS
SELECT DISTINCT invoice_id, charge_id
FROM (
    SELECT invoice AS invoice_id, id AS charge_id FROM raw.stripe_charges WHERE invoice IS NOT NULL
    UNION ALL
    SELECT id AS invoice_id, charge AS charge_id FROM raw.stripe_invoices WHERE charge IS NOT NULL
);
