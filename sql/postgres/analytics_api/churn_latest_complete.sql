-- Churn of the latest complete month before the as-of month.
SELECT month, currency, previous_customers, churned_customers, customer_churn_rate, previous_mrr, churned_mrr,
       contraction_mrr, gross_mrr_churn_rate, net_mrr_churn_rate
FROM analytics.churn_monthly
WHERE month = (SELECT max(month) FROM analytics.mrr_month_spine
               WHERE is_complete AND month < date_trunc('month', %(as_of)s::date)::date)
ORDER BY currency
