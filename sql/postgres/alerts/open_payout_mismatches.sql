-- Every open payout_mismatch: an unexplained amount, or members missing from the membership (difference 0).
SELECT payout_id, currency, difference, detail
FROM analytics.discrepancies
WHERE status = 'open' AND kind = 'payout_mismatch'
