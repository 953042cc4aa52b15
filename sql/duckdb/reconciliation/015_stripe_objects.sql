-- The source objects of movements (charges, refunds, disputes) with presentment amount and currency and
-- the customer of the underlying charge. A view: only probed for the few movements that need it.
CREATE OR REPLACE TEMP VIEW recon_stripe_objects AS
SELECT charge_id AS object_id, charge_id, amount, currency, customer_id FROM staging.stg_charges
UNION ALL
SELECT r.refund_id, r.charge_id, r.amount, r.currency, c.customer_id
FROM staging.stg_refunds AS r LEFT JOIN staging.stg_charges AS c USING (charge_id)
UNION ALL
SELECT d.dispute_id, d.charge_id, d.amount, d.currency, c.customer_id
FROM staging.stg_disputes AS d LEFT JOIN staging.stg_charges AS c USING (charge_id);
