-- Issue 13: discrepancies can be reopened with a note; the append-only history (0105) records resolutions *and*
-- reopenings (`action`).
ALTER TABLE analytics.discrepancy_resolutions
    ADD COLUMN IF NOT EXISTS action text NOT NULL DEFAULT 'resolve' CHECK (action IN ('resolve', 'reopen'));
