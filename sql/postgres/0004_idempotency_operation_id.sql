-- Issue 12, defect 2: the operation id (which seeds the Stripe idempotency keys and the payment_attempts id)
-- belongs to one claim of an Idempotency-Key, not to the (user, key) pair. A key reused after it expired is a
-- new claim with a new random operation id; a lease takeover of the same claim keeps the stored one.
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS operation_id text;
UPDATE idempotency_keys SET operation_id = md5(user_id || '|' || key || '|' || created_at::text) WHERE operation_id IS NULL;
ALTER TABLE idempotency_keys ALTER COLUMN operation_id SET NOT NULL;
