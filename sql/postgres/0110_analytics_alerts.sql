-- Alert history: one row per alert (rule + scope), written before any page is sent so a failing pager
-- never loses an alert. paged_at stays NULL until a sink accepted the trigger; the next evaluation retries.
CREATE SCHEMA IF NOT EXISTS analytics;

CREATE TABLE IF NOT EXISTS analytics.alerts (
    alert_id        bigserial PRIMARY KEY,
    rule            text NOT NULL,
    dedup_key       text NOT NULL,
    scope           text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('critical', 'error', 'warning', 'info')),
    status          text NOT NULL CHECK (status IN ('open', 'resolved')),
    summary         text NOT NULL,
    last_value      numeric,
    threshold       numeric,
    links           jsonb NOT NULL DEFAULT '{}'::jsonb,
    first_seen_at   timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    paged_at        timestamptz,
    resolved_at     timestamptz,
    resolve_sent_at timestamptz,
    delivered       jsonb NOT NULL DEFAULT '{}'::jsonb,   -- sink -> time the trigger was accepted
    resolve_delivered jsonb NOT NULL DEFAULT '{}'::jsonb, -- sink -> time the resolve was accepted
    page_attempts   integer NOT NULL DEFAULT 0,
    last_page_error text
);

-- At most one open alert per dedup key; resolved ones stay as history.
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open_per_key ON analytics.alerts (dedup_key) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS alerts_rule_idx ON analytics.alerts (rule, first_seen_at DESC);
