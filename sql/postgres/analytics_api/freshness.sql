-- Data freshness as far as Postgres knows it: the newest UTC day that has balance transactions in the
-- published revenue mart (the API never opens the lake; the mart is keyed by the balance transaction's day).
SELECT max(day) AS newest_day FROM analytics.revenue_daily WHERE balance_transaction_count > 0
