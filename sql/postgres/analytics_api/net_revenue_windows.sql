-- Net (and gross) revenue of the 30 UTC days ending on the as-of day, and of the 30 days before them.
SELECT currency,
       coalesce(sum(net) FILTER (WHERE day > %(as_of)s::date - 30), 0)::bigint AS net_last_30,
       coalesce(sum(gross) FILTER (WHERE day > %(as_of)s::date - 30), 0)::bigint AS gross_last_30,
       coalesce(sum(net) FILTER (WHERE day <= %(as_of)s::date - 30), 0)::bigint AS net_previous_30,
       coalesce(sum(gross) FILTER (WHERE day <= %(as_of)s::date - 30), 0)::bigint AS gross_previous_30
FROM analytics.revenue_daily
WHERE day > %(as_of)s::date - 60 AND day <= %(as_of)s::date
GROUP BY currency
ORDER BY currency
