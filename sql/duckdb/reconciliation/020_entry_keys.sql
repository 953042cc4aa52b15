-- Key resolution: which Stripe object each ledger entry with a stripe_id records.
-- * ch_/py_ (charge types), re_ (refund), dp_ (dispute, dispute_reversal): the id itself, matched to BT.source.
-- * otherwise the id is first resolved to a charge (ch_/py_ itself, pi_ via charge.payment_intent, in_ via
--   charge.invoice or invoice.charge), preferring a charge that has a charge balance transaction, then the
--   earliest; then to the object of the entry's category: the charge, its dispute (earliest), or its refund.
--   Refund entries recorded against one charge are paired with that charge's refunds in time order, refunds
--   already named directly by a re_ entry last; entries beyond the number of refunds fall on the last one
--   (and so surface as duplicate_in_ledger).
-- object_key is the resolved object, or the raw stripe_id when nothing resolves (duplicates still group).
-- The ledger is read here at most twice, and the widest read only when it is needed:
-- * recon_direct_hashes: one narrow pass (type, stripe_id) over the entries that carry a stripe_id: a 32-bit hash
--   of (type, stripe_id) for each direct key (the repeated-key sort in 030 reads it), NULL for an indirect id (pi_,
--   in_, a ch_ on a refund entry...). Writing the 4-byte hashes costs what the sort saves by not scanning again.
-- * recon_indirect_entries: the indirect entries, whole, by one filtered scan of the ledger, run only when the
--   hash pass saw an indirect id: a ledger keyed by charge ids skips the ledger's widest scan. Entries without
--   stripe_id (for the fuzzy pass) are not read here: they ride through the key join's own ledger scan (030), and
--   recon_side_entries collects them from its output.
-- recon_entry_keys is then the direct entries and those without stripe_id, streamed from the ledger as they are
-- (no join, no lookup per row), plus the indirect ones resolved.
-- Indirect ids are not always few: the API records payments by invoice (in_) and credit purchases by
-- PaymentIntent (pi_), so a ledger it wrote is almost all indirect. Resolution is therefore one join of the
-- entries with their charge links (the entry's columns ride along) plus small branches for the rare cases
-- (links with several charges, refund and dispute entries); there is no per-entry window and no join back on
-- entry_id. At 10M pi_-keyed entries: 020 took 17.5 s before, 5 s after.
CREATE OR REPLACE TEMP TABLE recon_direct_hashes AS
SELECT CASE WHEN is_direct_key THEN (hash(type, stripe_id) & 4294967295)::UINTEGER END AS h
FROM staging.stg_ledger_entries
WHERE expected_category IS NOT NULL AND stripe_id IS NOT NULL;

-- A variable, not an EXISTS in the scan's WHERE: DuckDB folds getvariable() to a constant when it plans the
-- statement, so a false one removes the scan; an uncorrelated EXISTS next to this filter did not stop it.
SET VARIABLE recon_has_indirect = (SELECT count(*) > 0 FROM recon_direct_hashes WHERE h IS NULL);

CREATE OR REPLACE TEMP TABLE recon_indirect_entries AS
SELECT entry_id, occurred_at, type, expected_category, amount, currency, stripe_id, stripe_prefix
FROM staging.stg_ledger_entries
WHERE getvariable('recon_has_indirect') AND expected_category IS NOT NULL AND stripe_id IS NOT NULL
  AND NOT is_direct_key;

-- pi_ and in_ ids name their charge through a link: charge.payment_intent, charge.invoice (older API versions)
-- or the invoice's own charge (basil). Each branch is read only when some indirect entry carries its prefix: with
-- only filters DuckDB pushes into the scan beside it, a false uncorrelated EXISTS skips the scan (measured: 0.01 s
-- against 0.57 s at 10M charges; next to a filter it cannot push, as in recon_indirect_entries above, it did not,
-- hence the variable there). A ledger keyed by charge ids pays nothing here. A TEMP table: the repeated-link sort,
-- its exact check and the entries' join all read it.
CREATE OR REPLACE TEMP TABLE recon_charge_links AS
SELECT 'pi_' AS link_prefix, payment_intent_id AS link_id, charge_id
FROM staging.stg_charges
WHERE payment_intent_id IS NOT NULL
  AND EXISTS (SELECT 1 FROM recon_indirect_entries WHERE stripe_prefix = 'pi_')
UNION ALL
SELECT 'in_', invoice_id, charge_id
FROM staging.stg_invoice_charges
WHERE EXISTS (SELECT 1 FROM recon_indirect_entries WHERE stripe_prefix = 'in_');

-- Links with more than one row: a PaymentIntent retried after a decline, an invoice paid on a second attempt, a
-- repeated row. Only these need the preference rule, so they are found first: equal neighbours of one sort of a
-- 32-bit hash of the link (a collision only makes a link a suspect), then counted exactly among the suspects.
CREATE OR REPLACE TEMP TABLE recon_multi_links AS
WITH repeated AS (
    SELECT DISTINCT h FROM (
        SELECT h, lag(h) OVER (ORDER BY h) AS prev
        FROM (SELECT (hash(link_prefix, link_id) & 4294967295)::UINTEGER AS h FROM recon_charge_links)
    ) WHERE h = prev
),
suspects AS (
    SELECT link_prefix, link_id, charge_id FROM recon_charge_links
    WHERE (hash(link_prefix, link_id) & 4294967295)::UINTEGER IN (SELECT h FROM repeated)
)
SELECT s.link_prefix, s.link_id, s.charge_id
FROM suspects AS s
SEMI JOIN (SELECT link_prefix, link_id FROM suspects GROUP BY ALL HAVING count(*) > 1) AS m
    USING (link_prefix, link_id);

-- The one charge a multi-row link resolves to: a charge that has a charge balance transaction first, then the
-- earliest, then by id. The lookups are semi-joins on the few charges involved (skipped when there are none).
CREATE OR REPLACE TEMP TABLE recon_link_choice AS
WITH candidates AS (
    SELECT DISTINCT link_prefix, link_id, charge_id FROM recon_multi_links
),
has_bt AS (
    SELECT DISTINCT bt.source_id AS charge_id
    FROM staging.stg_balance_transactions AS bt
    SEMI JOIN candidates AS c ON c.charge_id = bt.source_id
    WHERE bt.reporting_category = 'charge'
),
created AS (
    SELECT ch.charge_id, ch.created_at FROM staging.stg_charges AS ch
    SEMI JOIN candidates AS c USING (charge_id)
)
SELECT c.link_prefix, c.link_id, c.charge_id
FROM candidates AS c
LEFT JOIN created AS ch USING (charge_id)
LEFT JOIN has_bt AS h USING (charge_id)
QUALIFY row_number() OVER (
    PARTITION BY c.link_prefix, c.link_id
    ORDER BY h.charge_id IS NULL, ch.created_at NULLS LAST, c.charge_id
) = 1;

-- Every indirect entry (a side entry with a stripe_id) once, with the charge its id names: a ch_/py_ id is the
-- charge itself; a pi_/in_ id its link's charge (a multi-row link's choice); NULL when nothing links. One pass:
-- the entry's columns ride along the join, so nothing is joined back on entry_id later.
CREATE OR REPLACE TEMP TABLE recon_indirect_charges AS
WITH links AS (
    SELECT link_prefix, link_id, charge_id FROM recon_charge_links
    WHERE (link_prefix, link_id) NOT IN (SELECT (link_prefix, link_id) FROM recon_multi_links)
    UNION ALL
    SELECT link_prefix, link_id, charge_id FROM recon_link_choice
)
SELECT
    i.entry_id, i.occurred_at, i.type, i.expected_category, i.amount, i.currency, i.stripe_id,
    CASE WHEN i.stripe_prefix IN ('ch_', 'py_') THEN i.stripe_id ELSE l.charge_id END AS charge_id
FROM recon_indirect_entries AS i
LEFT JOIN links AS l ON l.link_prefix = i.stripe_prefix AND l.link_id = i.stripe_id
WHERE i.stripe_id IS NOT NULL;

-- The object of the entry's category: the charge itself, its earliest dispute, or one of its refunds. Refund
-- entries of one charge are paired with its refunds in time order, refunds already named by a direct re_ entry
-- last. A view: charge-category rows pass straight through; the dispute and refund branches are small.
CREATE OR REPLACE TEMP VIEW recon_indirect AS
WITH refund_entries AS (
    SELECT entry_id, charge_id,
           row_number() OVER (PARTITION BY charge_id ORDER BY occurred_at, entry_id) AS k
    FROM recon_indirect_charges
    WHERE expected_category = 'refund' AND charge_id IS NOT NULL
),
wanted_refunds AS (
    SELECT r.refund_id, r.charge_id, r.created_at
    FROM staging.stg_refunds AS r
    SEMI JOIN refund_entries AS w USING (charge_id)
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
dispute_objects AS (
    SELECT v.entry_id, d.dispute_id AS object_id
    FROM recon_indirect_charges AS v
    JOIN staging.stg_disputes AS d USING (charge_id)
    WHERE v.expected_category IN ('dispute', 'dispute_reversal')
    QUALIFY row_number() OVER (PARTITION BY v.entry_id ORDER BY d.created_at, d.dispute_id) = 1
),
resolved AS (
    SELECT i.* EXCLUDE (charge_id), i.charge_id AS resolved_object_id
    FROM recon_indirect_charges AS i
    WHERE i.expected_category = 'charge'
    UNION ALL
    SELECT i.* EXCLUDE (charge_id), o.object_id
    FROM recon_indirect_charges AS i
    LEFT JOIN (SELECT * FROM refund_objects UNION ALL SELECT * FROM dispute_objects) AS o USING (entry_id)
    WHERE i.expected_category <> 'charge'
)
SELECT
    entry_id, occurred_at, type, expected_category, amount, currency, stripe_id, resolved_object_id,
    coalesce(resolved_object_id, stripe_id) AS object_key,
    NULL::VARCHAR AS customer_id  -- only entries without stripe_id need it (the fuzzy pass); recon_side_entries has it
FROM resolved;

CREATE OR REPLACE TEMP VIEW recon_entry_keys AS
SELECT
    entry_id, occurred_at, type, expected_category, amount, currency, stripe_id,
    stripe_id AS resolved_object_id,
    stripe_id AS object_key,
    customer_id
FROM staging.stg_ledger_entries
WHERE is_direct_key OR (stripe_id IS NULL AND expected_category IS NOT NULL)
UNION ALL
SELECT * FROM recon_indirect;
