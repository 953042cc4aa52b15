-- Revenue by UTC day (settlement currency), keyset-paged by (day, currency).
SELECT day AS period, currency, gross, refunds, disputes, other, fees, net, payouts, charge_count, refund_count,
       dispute_count, dispute_reversal_count, other_count, payout_count, balance_transaction_count
FROM analytics.revenue_daily
WHERE day >= %(from)s AND day <= %(to)s
  AND (%(currency)s::text IS NULL OR currency = %(currency)s)
  AND (%(after_period)s::date IS NULL OR (day, currency) > (%(after_period)s::date, %(after_currency)s::text))
ORDER BY day, currency
LIMIT %(limit)s
