-- Published reconciliation results with a lifecycle (DESIGN.md Contract 3).
-- A discrepancy keeps its discrepancy_id across runs; runs move it open -> resolved (auto) when it is no
-- longer found, and back to open if it reappears. A manual resolution is never overwritten by a run.
CREATE SCHEMA IF NOT EXISTS analytics;

CREATE TABLE IF NOT EXISTS analytics.discrepancies (
    discrepancy_id               text PRIMARY KEY,
    kind                         text NOT NULL,
    stripe_balance_transaction_id text,
    stripe_object_id             text,
    ledger_entry_id              text,
    payout_id                    text,
    currency                     text,
    stripe_amount                bigint,
    ledger_amount                bigint,
    difference                   bigint,
    occurred_at                  timestamptz,
    detail                       text,
    status                       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    resolution_source            text CHECK (resolution_source IN ('auto', 'manual')),
    resolution_note              text,
    resolved_by                  text,
    first_seen_at                timestamptz NOT NULL,
    last_seen_at                 timestamptz NOT NULL,
    resolved_at                  timestamptz,
    last_run_id                  text
);

CREATE INDEX IF NOT EXISTS discrepancies_open_idx ON analytics.discrepancies (kind, currency) WHERE status = 'open';
