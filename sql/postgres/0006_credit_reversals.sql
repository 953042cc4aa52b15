-- Issue 12, defect 8: credits follow refunds (partial too) and disputes of credit purchases. Each movement
-- names the purchase (PaymentIntent) it belongs to, so what a purchase still gives its owner is a sum.
ALTER TABLE credit_movements ADD COLUMN IF NOT EXISTS payment_intent text;
UPDATE credit_movements SET payment_intent = stripe_id
    WHERE payment_intent IS NULL AND reason IN ('credit_purchase', 'refund') AND stripe_id LIKE 'pi\_%';
CREATE INDEX IF NOT EXISTS credit_movements_pi_idx ON credit_movements (payment_intent);
