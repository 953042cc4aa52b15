SELECT payout_id, currency, difference
FROM analytics.discrepancies
WHERE status = 'open' AND kind = 'payout_mismatch' AND difference <> 0
