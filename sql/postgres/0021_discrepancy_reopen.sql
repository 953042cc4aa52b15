-- Issue 13: discrepancies can be reopened with a note; the append-only history records resolutions *and*
-- reopenings (`action`). The table is created here too (same definition as 0105) because this file runs before
-- 0105 on a fresh database; 0105's IF NOT EXISTS then keeps it and adds its append-only trigger.
CREATE SCHEMA IF NOT EXISTS analytics;

CREATE TABLE IF NOT EXISTS analytics.discrepancy_resolutions (
    resolution_id        bigserial PRIMARY KEY,
    discrepancy_id       text NOT NULL,
    note                 text NOT NULL,
    resolved_by          text NOT NULL,
    resolved_at          timestamptz NOT NULL DEFAULT now(),
    previous_status      text NOT NULL,
    previous_note        text,
    previous_resolved_by text
);
ALTER TABLE analytics.discrepancy_resolutions
    ADD COLUMN IF NOT EXISTS action text NOT NULL DEFAULT 'resolve' CHECK (action IN ('resolve', 'reopen'));
