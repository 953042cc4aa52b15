-- marts.churn_monthly: month x currency rates from mrr_monthly (DESIGN definitions):
--   customer_churn_rate  = churned customers / customers with MRR > 0 at the previous snapshot
--   gross_mrr_churn_rate = (churn + contraction) / previous MRR
--   net_mrr_churn_rate   = (churn + contraction - expansion - reactivation) / previous MRR (negative = net expansion)
-- Rates are NULL when the denominator is 0 (first month of a currency). is_complete = false: running month.
CREATE OR REPLACE TABLE marts.churn_monthly AS
SELECT
    month,
    currency,
    previous_customers,
    churned_customers,
    safe_ratio(churned_customers, previous_customers) AS customer_churn_rate,
    previous_mrr,
    churned_mrr,
    contraction_mrr,
    expansion_mrr,
    reactivation_mrr,
    safe_ratio(churned_mrr + contraction_mrr, previous_mrr) AS gross_mrr_churn_rate,
    safe_ratio(churned_mrr + contraction_mrr - expansion_mrr - reactivation_mrr, previous_mrr) AS net_mrr_churn_rate,
    is_complete
FROM marts.mrr_monthly
ORDER BY month, currency;
