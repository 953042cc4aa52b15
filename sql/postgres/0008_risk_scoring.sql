-- Issue 12: fraud risk scoring. Every purchase and subscription attempt is a payment_attempts row (kind
-- 'subscription' is new: the attempt to start one, before Stripe's invoices exist) carrying its score,
-- decision (allow / review / block) and the reasons, plus the request facts the velocity signals count.
ALTER TABLE payment_attempts DROP CONSTRAINT IF EXISTS payment_attempts_kind_check;
ALTER TABLE payment_attempts ADD CONSTRAINT payment_attempts_kind_check
    CHECK (kind IN ('credit_purchase', 'invoice', 'subscription'));
ALTER TABLE payment_attempts
    ADD COLUMN IF NOT EXISTS risk_score       integer,
    ADD COLUMN IF NOT EXISTS risk_decision    text CHECK (risk_decision IN ('allow', 'review', 'block')),
    ADD COLUMN IF NOT EXISTS risk_reasons     jsonb,
    ADD COLUMN IF NOT EXISTS client_ip        text,
    ADD COLUMN IF NOT EXISTS ip_country       text,
    ADD COLUMN IF NOT EXISTS card_fingerprint text,
    ADD COLUMN IF NOT EXISTS card_country     text;
CREATE INDEX IF NOT EXISTS payment_attempts_ip_idx ON payment_attempts (client_ip, created_at) WHERE client_ip IS NOT NULL;
CREATE INDEX IF NOT EXISTS payment_attempts_card_idx ON payment_attempts (card_fingerprint, created_at)
    WHERE card_fingerprint IS NOT NULL;
CREATE INDEX IF NOT EXISTS payment_attempts_review_idx ON payment_attempts (created_at) WHERE risk_decision <> 'allow';
