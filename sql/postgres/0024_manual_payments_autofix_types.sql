-- Issue 13, auto-fix: a missing refund or dispute is booked with the ledger type reconciliation matches
-- (refund, dispute, dispute_reversal), through the same manual_payments path; admins still record only
-- payment and manual_adjustment (the API refuses other types from a request).
ALTER TABLE manual_payments DROP CONSTRAINT IF EXISTS manual_payments_type_check;
ALTER TABLE manual_payments ADD CONSTRAINT manual_payments_type_check CHECK (
    type IN ('payment', 'manual_adjustment')
    OR (source = 'autofix' AND type IN ('refund', 'dispute', 'dispute_reversal')));
