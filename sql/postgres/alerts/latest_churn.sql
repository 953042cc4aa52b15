-- Latest month per currency that has a previous snapshot (a churn rate is defined).
SELECT currency, month, customer_churn_rate
FROM (
    SELECT currency, month, customer_churn_rate,
           row_number() OVER (PARTITION BY currency ORDER BY month DESC) AS rk
    FROM analytics.churn_monthly
    WHERE customer_churn_rate IS NOT NULL
) t
WHERE rk = 1
