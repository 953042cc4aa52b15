-- Charge attempts per presentment currency over a range of UTC days, with each day's top failure codes.
SELECT currency, sum(attempts)::bigint AS attempts, sum(succeeded)::bigint AS succeeded,
       sum(failed)::bigint AS failed, sum(pending)::bigint AS pending,
       array_agg(top_failure_codes) FILTER (WHERE top_failure_codes IS NOT NULL) AS daily_top_failure_codes
FROM analytics.payment_health_daily
WHERE day >= %(from)s AND day <= %(to)s AND (%(currency)s::text IS NULL OR currency = %(currency)s)
GROUP BY currency
ORDER BY currency
