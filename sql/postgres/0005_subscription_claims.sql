-- Issue 12, defect 5: create-subscription no longer holds a database transaction (and a pooled connection and
-- an advisory lock) across its Stripe calls. A short transaction claims "a subscription is being created for
-- this user" here and commits; the Stripe calls run with no connection held; a second short transaction writes
-- the result and deletes the claim. A claim whose process died expires (expires_at, the lease derived from the
-- Stripe timeouts); a retry of the same operation (same operation_id) may take it over at once.
CREATE TABLE IF NOT EXISTS subscription_claims (
    user_id      text PRIMARY KEY REFERENCES users (id),
    operation_id text NOT NULL,
    plan_id      text NOT NULL,
    claimed_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at   timestamptz NOT NULL
);
