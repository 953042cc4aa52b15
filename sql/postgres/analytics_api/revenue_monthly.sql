-- Revenue by UTC month (settlement currency), keyset-paged by (month, currency); months overlapping the range.
SELECT month AS period, currency, gross, refunds, disputes, other, fees, net, payouts, charge_count, refund_count,
       dispute_count, dispute_reversal_count, other_count, payout_count, balance_transaction_count
FROM analytics.revenue_monthly
WHERE month >= date_trunc('month', %(from)s::date)::date AND month <= %(to)s
  AND (%(currency)s::text IS NULL OR currency = %(currency)s)
  AND (%(after_period)s::date IS NULL OR (month, currency) > (%(after_period)s::date, %(after_currency)s::text))
ORDER BY month, currency
LIMIT %(limit)s
