-- Lease on an in-progress Idempotency-Key claim (status_code NULL): when the process holding it dies, the
-- claim is taken over by the next request with the same key and body once `locked_at` is older than the
-- lease (CASHBOOK_API_IDEMPOTENCY_LEASE_SECONDS), instead of answering 409 until the key expires.
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS locked_at timestamptz NOT NULL DEFAULT now();
