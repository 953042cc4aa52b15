-- Issue 13: admin background jobs (reconcile on demand). One active job per kind: the partial unique index
-- makes a second concurrent start fail in the database itself (the API answers 409).
CREATE TABLE IF NOT EXISTS admin_jobs (
    id             text PRIMARY KEY,                         -- job_<hex>
    kind           text NOT NULL CHECK (kind IN ('reconcile_payments')),
    status         text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    runner         text NOT NULL CHECK (runner IN ('worker', 'dagster')),
    params         jsonb NOT NULL DEFAULT '{}'::jsonb,
    requested_by   text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz,
    dagster_run_id text,
    ui_url         text,
    result         jsonb,
    error          text
);
CREATE UNIQUE INDEX IF NOT EXISTS admin_jobs_one_active_idx ON admin_jobs (kind)
    WHERE status IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS admin_jobs_created_idx ON admin_jobs (created_at, id);
