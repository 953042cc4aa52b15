-- Issue 13: retention of the audit trail and of webhook payloads, enforced by the admin maintenance loop
-- (api/services/admin_jobs.py). audit_log stays append-only: UPDATE and TRUNCATE are refused as before; a DELETE
-- is refused row by row unless the deleting transaction set `cashbook.audit_retention_cutoff` and the row is older
-- than that cutoff *and* at least 30 days old (a hard floor, whatever the configuration says).
CREATE OR REPLACE FUNCTION cashbook_audit_retention_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cutoff timestamptz := nullif(current_setting('cashbook.audit_retention_cutoff', true), '')::timestamptz;
BEGIN
    IF cutoff IS NULL OR OLD.occurred_at >= least(cutoff, now() - interval '30 days') THEN
        RAISE EXCEPTION 'audit_log is append-only: DELETE refused (only the retention job removes expired rows)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN OLD;
END $$;

DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION cashbook_append_only();
DROP TRIGGER IF EXISTS audit_log_retention_guard ON audit_log;
CREATE TRIGGER audit_log_retention_guard BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION cashbook_audit_retention_guard();

-- Processed/ignored webhook events keep their row (the id still absorbs a late duplicate) and the ids that
-- link them to Stripe objects; the rest of the payload (customer details, card data) is dropped.
ALTER TABLE webhook_events ADD COLUMN IF NOT EXISTS payload_purged_at timestamptz;

ALTER TABLE admin_jobs DROP CONSTRAINT IF EXISTS admin_jobs_kind_check;
ALTER TABLE admin_jobs ADD CONSTRAINT admin_jobs_kind_check CHECK (kind IN ('reconcile_payments', 'retention'));
