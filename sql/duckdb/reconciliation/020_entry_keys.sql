-- Key resolution: which Stripe object each ledger entry with a stripe_id records.
-- * ch_/py_ (charge types), re_ (refund), dp_ (dispute, dispute_reversal): the id itself, matched to BT.source.
-- * otherwise the id is first resolved to a charge (ch_/py_ itself, pi_ via charge.payment_intent, in_ via
--   charge.invoice or invoice.charge), preferring a charge that has a charge balance transaction, then the
--   earliest; then to the object of the entry's category: the charge, its dispute (earliest), or its refund.
--   Refund entries recorded against one charge are paired with that charge's refunds in time order, refunds
--   already named directly by a re_ entry last; entries beyond the number of refunds fall on the last one
--   (and so surface as duplicate_in_ledger).
-- object_key is the resolved object, or the raw stripe_id when nothing resolves (duplicates still group).
CREATE OR REPLACE TEMP VIEW recon_entry_keys AS
WITH keyed AS (
    SELECT
        *,
        (expected_category = 'charge' AND stripe_prefix IN ('ch_', 'py_'))
            OR (expected_category = 'refund' AND stripe_prefix = 're_')
            OR (expected_category IN ('dispute', 'dispute_reversal') AND stripe_prefix = 'dp_') AS is_direct
    FROM staging.stg_ledger_entries
    WHERE stripe_id IS NOT NULL AND expected_category IS NOT NULL
),
indirect AS (
    SELECT * FROM keyed WHERE NOT is_direct
),
charge_candidates AS (
    SELECT entry_id, stripe_id AS charge_id FROM indirect WHERE stripe_prefix IN ('ch_', 'py_')
    UNION ALL
    SELECT i.entry_id, c.charge_id
    FROM indirect AS i JOIN staging.stg_charges AS c ON c.payment_intent_id = i.stripe_id
    WHERE i.stripe_prefix = 'pi_'
    UNION ALL
    SELECT i.entry_id, ic.charge_id
    FROM indirect AS i JOIN staging.stg_invoice_charges AS ic ON ic.invoice_id = i.stripe_id
    WHERE i.stripe_prefix = 'in_'
),
charge_has_bt AS (
    SELECT DISTINCT bt.source_id AS charge_id
    FROM staging.stg_balance_transactions AS bt
    SEMI JOIN charge_candidates AS cc ON cc.charge_id = bt.source_id
    WHERE bt.reporting_category = 'charge'
),
entry_charge AS (
    SELECT cc.entry_id, cc.charge_id
    FROM charge_candidates AS cc
    LEFT JOIN staging.stg_charges AS c USING (charge_id)
    LEFT JOIN charge_has_bt AS h USING (charge_id)
    QUALIFY row_number() OVER (
        PARTITION BY cc.entry_id
        ORDER BY h.charge_id IS NULL, c.created_at NULLS LAST, cc.charge_id
    ) = 1
),
via_charge AS (
    SELECT i.entry_id, i.expected_category, i.occurred_at, ec.charge_id
    FROM indirect AS i JOIN entry_charge AS ec USING (entry_id)
),
charge_objects AS (
    SELECT entry_id, charge_id AS object_id FROM via_charge WHERE expected_category = 'charge'
),
dispute_objects AS (
    SELECT v.entry_id, d.dispute_id AS object_id
    FROM via_charge AS v JOIN staging.stg_disputes AS d USING (charge_id)
    WHERE v.expected_category IN ('dispute', 'dispute_reversal')
    QUALIFY row_number() OVER (PARTITION BY v.entry_id ORDER BY d.created_at, d.dispute_id) = 1
),
refund_entries AS (
    SELECT entry_id, charge_id,
           row_number() OVER (PARTITION BY charge_id ORDER BY occurred_at, entry_id) AS k
    FROM via_charge WHERE expected_category = 'refund'
),
charge_refunds AS (
    SELECT r.charge_id, r.refund_id,
           row_number() OVER (
               PARTITION BY r.charge_id
               ORDER BY claimed.object_id IS NOT NULL, r.created_at, r.refund_id
           ) AS k,
           count(*) OVER (PARTITION BY r.charge_id) AS n
    FROM staging.stg_refunds AS r
    SEMI JOIN (SELECT DISTINCT charge_id FROM refund_entries) AS wanted USING (charge_id)
    LEFT JOIN (
        SELECT DISTINCT stripe_id AS object_id FROM keyed WHERE is_direct AND expected_category = 'refund'
    ) AS claimed ON claimed.object_id = r.refund_id
),
refund_objects AS (
    SELECT re.entry_id, cr.refund_id AS object_id
    FROM refund_entries AS re
    JOIN charge_refunds AS cr ON cr.charge_id = re.charge_id AND cr.k = least(re.k, cr.n)
),
resolved AS (
    SELECT * FROM charge_objects
    UNION ALL SELECT * FROM dispute_objects
    UNION ALL SELECT * FROM refund_objects
)
SELECT
    k.entry_id, k.occurred_at, k.type, k.expected_category, k.amount, k.currency, k.stripe_id, k.customer_id,
    CASE WHEN k.is_direct THEN k.stripe_id ELSE r.object_id END AS resolved_object_id,
    CASE WHEN k.is_direct THEN k.stripe_id ELSE coalesce(r.object_id, k.stripe_id) END AS object_key
FROM keyed AS k
LEFT JOIN resolved AS r ON r.entry_id = k.entry_id;
