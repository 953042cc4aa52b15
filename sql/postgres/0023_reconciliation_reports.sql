-- Issue 13: generated audit reports. Both renderings (CSV, JSON) are stored with their SHA-256, so a download
-- returns exactly the hashed bytes; who generated it, when, and for which period. Append-only: a report is
-- evidence; regenerating a period adds a new row (with the same digests when nothing changed).
CREATE TABLE IF NOT EXISTS reconciliation_reports (
    report_id    text PRIMARY KEY,                        -- rpt_<hex>
    period_from  date NOT NULL,
    period_to    date NOT NULL CHECK (period_to >= period_from),  -- inclusive UTC days
    generated_by text NOT NULL,
    generated_at timestamptz NOT NULL DEFAULT now(),
    csv_sha256   text NOT NULL,
    json_sha256  text NOT NULL,
    csv_body     bytea NOT NULL,
    json_body    bytea NOT NULL,
    counts       jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS reconciliation_reports_created_idx ON reconciliation_reports (generated_at, report_id);

DROP TRIGGER IF EXISTS reconciliation_reports_append_only ON reconciliation_reports;
CREATE TRIGGER reconciliation_reports_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON reconciliation_reports
    FOR EACH STATEMENT EXECUTE FUNCTION cashbook_append_only();
