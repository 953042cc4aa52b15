-- invoice → charge links from both sides of Stripe's basil change: `charge.invoice` (older API
-- versions) and the invoice's own charge / payments (newer), so an in_ ledger id resolves either way.
-- A pair both sides record is listed once: the invoice side adds only the pairs the charges do not already
-- name (an anti-join, not a DISTINCT over every link, which cost seconds at ten million charges).
CREATE SCHEMA IF NOT EXISTS staging;
CREATE OR REPLACE VIEW staging.stg_invoice_charges AS
SELECT invoice AS invoice_id, id AS charge_id FROM raw.stripe_charges WHERE invoice IS NOT NULL
UNION ALL
SELECT i.id AS invoice_id, i.charge AS charge_id
FROM raw.stripe_invoices AS i
WHERE i.charge IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM raw.stripe_charges AS c WHERE c.id = i.charge AND c.invoice = i.id);
