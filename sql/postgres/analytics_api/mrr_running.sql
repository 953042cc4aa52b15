-- MRR of the running (as-of) month: provisional while is_complete is false.
SELECT month, currency, mrr, arr, customers, arpa, is_complete
FROM analytics.mrr_monthly
WHERE month = date_trunc('month', %(as_of)s::date)::date
ORDER BY currency
