-- MRR of the latest complete month before the as-of month (docs/metrics.md: trends use complete months only).
SELECT month, currency, mrr, arr, customers, arpa, is_complete
FROM analytics.mrr_monthly
WHERE month = (SELECT max(month) FROM analytics.mrr_month_spine
               WHERE is_complete AND month < date_trunc('month', %(as_of)s::date)::date)
ORDER BY currency
