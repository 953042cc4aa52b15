-- Issue 13: manual payments and adjustments recorded by admins (four-eyes above a threshold).
-- A row is `recorded` (its ledger row and credits written in the same transaction), `pending_approval`
-- (nothing written yet: a second, different admin must approve) or `rejected`. The database itself refuses
-- an approval by the admin who created the payment.
CREATE TABLE IF NOT EXISTS manual_payments (
    id              text PRIMARY KEY,                    -- mp_<operation id of the Idempotency-Key claim>
    user_id         text NOT NULL REFERENCES users (id),
    type            text NOT NULL CHECK (type IN ('payment', 'manual_adjustment')),
    amount          bigint NOT NULL CHECK (amount <> 0),
    currency        text NOT NULL CHECK (currency = lower(currency) AND length(currency) = 3),
    reason          text NOT NULL CHECK (length(reason) > 0),
    credits         bigint CHECK (credits IS NULL OR credits <> 0),
    stripe_id       text,
    occurred_at     timestamptz,                         -- the ledger row's time; null: when it is written
    source          text NOT NULL DEFAULT 'manual' CHECK (source IN ('manual', 'autofix')),
    discrepancy_id  text,                                -- auto-fix: the discrepancy it answers
    status          text NOT NULL CHECK (status IN ('recorded', 'pending_approval', 'rejected')),
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    approved_by     text,
    approved_at     timestamptz,
    rejected_by     text,
    rejected_at     timestamptz,
    decision_note   text,
    ledger_entry_id text UNIQUE,
    CONSTRAINT manual_payments_four_eyes CHECK (approved_by IS NULL OR approved_by <> created_by),
    CONSTRAINT manual_payments_payment_positive CHECK (type <> 'payment' OR amount > 0)
);
CREATE INDEX IF NOT EXISTS manual_payments_created_idx ON manual_payments (created_at, id);
CREATE INDEX IF NOT EXISTS manual_payments_status_idx ON manual_payments (status) WHERE status = 'pending_approval';
CREATE INDEX IF NOT EXISTS manual_payments_user_idx ON manual_payments (user_id, created_at);
