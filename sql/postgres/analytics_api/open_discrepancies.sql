-- Open discrepancies per currency, as the alert rule counts them (pending ones clear by themselves: apart).
SELECT coalesce(currency, '(none)') AS currency,
       count(*) FILTER (WHERE kind <> 'pending') AS count,
       coalesce(sum(abs(difference)) FILTER (WHERE kind <> 'pending'), 0)::bigint AS amount,
       count(*) FILTER (WHERE kind = 'pending') AS pending_count
FROM analytics.discrepancies
WHERE status = 'open'
GROUP BY 1
ORDER BY 1
