-- Payment attempts of the 7 UTC days ending on the as-of day (presentment currency), from the charges mart.
SELECT currency, sum(attempts)::bigint AS attempts, sum(succeeded)::bigint AS succeeded,
       sum(failed)::bigint AS failed
FROM analytics.payment_health_daily
WHERE day > %(as_of)s::date - 7 AND day <= %(as_of)s::date
GROUP BY currency
ORDER BY currency
