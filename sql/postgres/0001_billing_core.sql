-- Billing service core schema (issue 7). Money is bigint minor units + lower-case currency.

CREATE TABLE IF NOT EXISTS users (
    id                 text PRIMARY KEY,
    email              text,
    is_admin           boolean NOT NULL DEFAULT false,
    stripe_customer_id text UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- Catalog: the server owns every price; clients only name an id.
CREATE TABLE IF NOT EXISTS plans (
    id             text PRIMARY KEY,
    stripe_plan_id text NOT NULL UNIQUE,
    name           text NOT NULL,
    amount         bigint NOT NULL CHECK (amount >= 0),
    currency       text NOT NULL CHECK (currency = lower(currency)),
    interval       text NOT NULL CHECK (interval IN ('day', 'week', 'month', 'year')),
    active         boolean NOT NULL DEFAULT true
);

CREATE TABLE IF NOT EXISTS credit_packs (
    id       text PRIMARY KEY,
    name     text NOT NULL,
    credits  bigint NOT NULL CHECK (credits > 0),
    amount   bigint NOT NULL CHECK (amount > 0),
    currency text NOT NULL CHECK (currency = lower(currency)),
    active   boolean NOT NULL DEFAULT true
);

CREATE TABLE IF NOT EXISTS subscriptions (
    id                   text PRIMARY KEY,               -- Stripe sub_ id
    user_id              text REFERENCES users (id),
    customer_id          text,
    plan_id              text,
    status               text NOT NULL,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    current_period_end   timestamptz,
    canceled_at          timestamptz,
    ended_at             timestamptz,
    dunning_attempts     integer NOT NULL DEFAULT 0,
    next_payment_attempt timestamptz,
    last_payment_error   text,
    -- Stripe `created` of the newest event applied: an older event never overwrites newer state.
    state_version        bigint NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS subscriptions_user_idx ON subscriptions (user_id);

CREATE TABLE IF NOT EXISTS subscription_history (
    id              bigserial PRIMARY KEY,
    subscription_id text NOT NULL,
    status          text NOT NULL,
    source          text NOT NULL,                       -- api:<op> or event:<evt id>
    detail          jsonb NOT NULL DEFAULT '{}'::jsonb,
    changed_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS subscription_history_sub_idx ON subscription_history (subscription_id, id);

CREATE TABLE IF NOT EXISTS payment_attempts (
    id                text PRIMARY KEY,                  -- our operation id
    user_id           text REFERENCES users (id),
    kind              text NOT NULL CHECK (kind IN ('credit_purchase', 'invoice')),
    stripe_id         text UNIQUE,                        -- pi_ or in_
    pack_id           text REFERENCES credit_packs (id),
    credits           bigint,
    amount            bigint NOT NULL,
    currency          text NOT NULL,
    status            text NOT NULL,
    attempt_count     integer NOT NULL DEFAULT 0,
    failure_message   text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS payment_attempts_user_idx ON payment_attempts (user_id, created_at DESC);

CREATE TABLE IF NOT EXISTS credit_balances (
    user_id    text PRIMARY KEY REFERENCES users (id),
    balance    bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One movement per (reason, stripe object): the grant for a PaymentIntent can only happen once.
CREATE TABLE IF NOT EXISTS credit_movements (
    id         bigserial PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id),
    delta      bigint NOT NULL,
    reason     text NOT NULL,
    stripe_id  text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (reason, stripe_id)
);

-- Contract 2 columns; read by the pipeline as a ledger source.
CREATE TABLE IF NOT EXISTS ledger_entries (
    entry_id    text PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    type        text NOT NULL,
    amount      bigint NOT NULL,
    currency    text NOT NULL CHECK (currency = lower(currency)),
    stripe_id   text NULL,
    customer_id text NULL,
    description text NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_entries_type_stripe_id_key UNIQUE (type, stripe_id)
);
CREATE INDEX IF NOT EXISTS ledger_entries_occurred_idx ON ledger_entries (occurred_at);

-- Webhook inbox, keyed by Stripe event id (duplicates are absorbed by the primary key).
CREATE TABLE IF NOT EXISTS webhook_events (
    id              text PRIMARY KEY,
    type            text NOT NULL,
    created         bigint NOT NULL,                     -- Stripe event `created` (Unix s)
    livemode        boolean NOT NULL DEFAULT false,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'processed', 'ignored', 'failed', 'manual_review')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz
);
CREATE INDEX IF NOT EXISTS webhook_events_due_idx ON webhook_events (next_attempt_at)
    WHERE status IN ('pending', 'failed');

CREATE TABLE IF NOT EXISTS idempotency_keys (
    user_id      text NOT NULL,
    key          text NOT NULL,
    method       text NOT NULL,
    path         text NOT NULL,
    request_hash text NOT NULL,
    status_code  integer,                                -- null while the first request is running
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (user_id, key)
);

CREATE TABLE IF NOT EXISTS error_logs (
    id         bigserial PRIMARY KEY,
    source     text NOT NULL,
    message    text NOT NULL,
    context    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS email_outbox (
    id         bigserial PRIMARY KEY,
    dedupe_key text NOT NULL UNIQUE,
    to_addr    text,
    subject    text NOT NULL,
    body       text NOT NULL,
    status     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'logged', 'failed')),
    attempts   integer NOT NULL DEFAULT 0,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
