-- Which published/API tables exist yet (a fresh install has published nothing): one round trip.
SELECT to_regclass('analytics.revenue_daily') IS NOT NULL AS revenue_daily,
       to_regclass('analytics.revenue_monthly') IS NOT NULL AS revenue_monthly,
       to_regclass('analytics.payment_health_daily') IS NOT NULL AS payment_health_daily,
       to_regclass('analytics.mrr_monthly') IS NOT NULL AS mrr_monthly,
       to_regclass('analytics.mrr_month_spine') IS NOT NULL AS mrr_month_spine,
       to_regclass('analytics.churn_monthly') IS NOT NULL AS churn_monthly,
       to_regclass('analytics.discrepancies') IS NOT NULL AS discrepancies,
       to_regclass('analytics.alerts') IS NOT NULL AS alerts
