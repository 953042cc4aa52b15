-- Latest complete month per currency (its month-end snapshot is in the past) with a defined churn rate.
-- The running month is provisional: subscriptions not yet renewed would read as churn.
SELECT currency, month, customer_churn_rate
FROM (
    SELECT currency, month, customer_churn_rate,
           row_number() OVER (PARTITION BY currency ORDER BY month DESC) AS rk
    FROM analytics.churn_monthly
    WHERE customer_churn_rate IS NOT NULL
      AND month + interval '1 month' <= %(today)s
) t
WHERE rk = 1
