-- Issue 12: the append-only audit trail of every admin request (and what each admin action changed).
-- One row per request to /api/admin/* (allowed, denied or failed) written before the response is sent,
-- plus the row a service writes in the same transaction as the change it audits (before/after state).
-- The database refuses UPDATE, DELETE and TRUNCATE on it; issue 13's admin tools reuse it.
CREATE OR REPLACE FUNCTION cashbook_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TABLE IF NOT EXISTS audit_log (
    audit_id     bigserial PRIMARY KEY,
    occurred_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor        text NOT NULL,                 -- admin user id; 'anonymous' when the token did not verify
    actor_email  text,
    action       text NOT NULL,                 -- e.g. 'discrepancy.resolve', or 'GET /api/admin/alerts'
    target       text,                          -- the object acted on (discrepancy id, event id, ...)
    outcome      text NOT NULL CHECK (outcome IN ('allowed', 'denied', 'failed', 'changed')),
    status_code  integer,
    before       jsonb,
    after        jsonb,
    method       text NOT NULL,
    path         text NOT NULL,
    query        text,
    ip           text,
    user_agent   text,
    request_id   text NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_time_idx ON audit_log (occurred_at);
CREATE INDEX IF NOT EXISTS audit_log_actor_idx ON audit_log (actor, occurred_at);
CREATE INDEX IF NOT EXISTS audit_log_target_idx ON audit_log (target) WHERE target IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_log_request_idx ON audit_log (request_id);

DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION cashbook_append_only();
