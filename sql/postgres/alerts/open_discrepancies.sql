-- Open discrepancies per currency; pending ones are expected to clear by themselves and are not counted.
SELECT coalesce(currency, '(none)') AS currency, count(*) AS n, coalesce(sum(abs(difference)), 0) AS amount
FROM analytics.discrepancies
WHERE status = 'open' AND kind <> 'pending'
GROUP BY 1
