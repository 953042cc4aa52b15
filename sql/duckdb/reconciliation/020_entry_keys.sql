-- Key resolution: which Stripe object each ledger entry with a stripe_id records.
-- * ch_/py_ (charge types), re_ (refund), dp_ (dispute, dispute_reversal): the id itself, matched to BT.source.
-- * otherwise the id is first resolved to a charge (ch_/py_ itself, pi_ via charge.payment_intent, in_ via
--   charge.invoice or invoice.charge), preferring a charge that has a charge balance transaction, then the
--   earliest; then to the object of the entry's category: the charge, its dispute (earliest), or its refund.
--   Refund entries recorded against one charge are paired with that charge's refunds in time order, refunds
--   already named directly by a re_ entry last; entries beyond the number of refunds fall on the last one
--   (and so surface as duplicate_in_ledger).
-- object_key is the resolved object, or the raw stripe_id when nothing resolves (duplicates still group).
-- The matchable entries that are not direct keys are few: indirect ids (pi_, in_, a ch_ on a refund entry...)
-- and entries without stripe_id (the fuzzy pass). One filtered scan of the ledger puts them, whole, in a small
-- TEMP table; every later step that needs them reads it instead of the ledger. recon_entry_keys is then the
-- direct entries streamed from the ledger as they are (no join, no lookup per row) plus the indirect ones.
CREATE OR REPLACE TEMP TABLE recon_side_entries AS
SELECT entry_id, occurred_at, type, expected_category, amount, currency, stripe_id, stripe_prefix, customer_id
FROM staging.stg_ledger_entries
WHERE expected_category IS NOT NULL AND NOT is_direct_key;

CREATE OR REPLACE TEMP TABLE recon_indirect AS
WITH indirect AS (
    SELECT entry_id, occurred_at, type, expected_category, amount, currency, stripe_id, stripe_prefix
    FROM recon_side_entries
    WHERE stripe_id IS NOT NULL
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
wanted_refunds AS (
    SELECT r.refund_id, r.charge_id, r.created_at
    FROM staging.stg_refunds AS r
    SEMI JOIN (SELECT DISTINCT charge_id FROM refund_entries) AS w USING (charge_id)
),
claimed AS (
    SELECT DISTINCT e.stripe_id AS refund_id
    FROM staging.stg_ledger_entries AS e
    SEMI JOIN wanted_refunds AS wr ON wr.refund_id = e.stripe_id
    WHERE e.is_direct_key AND e.expected_category = 'refund'
),
charge_refunds AS (
    SELECT wr.charge_id, wr.refund_id,
           row_number() OVER (
               PARTITION BY wr.charge_id
               ORDER BY c.refund_id IS NOT NULL, wr.created_at, wr.refund_id
           ) AS k,
           count(*) OVER (PARTITION BY wr.charge_id) AS n
    FROM wanted_refunds AS wr
    LEFT JOIN claimed AS c ON c.refund_id = wr.refund_id
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
    i.entry_id, i.occurred_at, i.type, i.expected_category, i.amount, i.currency, i.stripe_id,
    r.object_id AS resolved_object_id,
    coalesce(r.object_id, i.stripe_id) AS object_key
FROM indirect AS i
LEFT JOIN resolved AS r USING (entry_id);

CREATE OR REPLACE TEMP VIEW recon_entry_keys AS
SELECT
    entry_id, occurred_at, type, expected_category, amount, currency, stripe_id,
    stripe_id AS resolved_object_id,
    stripe_id AS object_key
FROM staging.stg_ledger_entries
WHERE is_direct_key
UNION ALL
SELECT * FROM recon_indirect;
