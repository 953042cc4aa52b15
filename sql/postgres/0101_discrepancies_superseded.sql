-- A pending discrepancy that a later run finds as missing_in_ledger / missing_in_stripe (same ids, new kind) was
-- not resolved: it is closed as 'superseded', with a pointer to its successor in resolution_note.
ALTER TABLE analytics.discrepancies DROP CONSTRAINT IF EXISTS discrepancies_resolution_source_check;
ALTER TABLE analytics.discrepancies ADD CONSTRAINT discrepancies_resolution_source_check
    CHECK (resolution_source IN ('auto', 'manual', 'superseded'));
