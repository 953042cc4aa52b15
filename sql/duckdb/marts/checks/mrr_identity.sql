-- Rows of marts.mrr_monthly breaking the MRR identity, exactly (integers):
--   previous + new + reactivation + expansion - contraction - churn = current,
-- or whose previous_mrr is not the month before's mrr (the chain must not skip or invent MRR).
-- Empty result = pass.
WITH chained AS (
    SELECT *,
           coalesce(lag(mrr) OVER (PARTITION BY currency ORDER BY month), 0) AS prior_month_mrr
    FROM marts.mrr_monthly
)
SELECT month, currency, previous_mrr, prior_month_mrr, new_mrr, reactivation_mrr, expansion_mrr,
       contraction_mrr, churned_mrr, mrr,
       previous_mrr + new_mrr + reactivation_mrr + expansion_mrr - contraction_mrr - churned_mrr AS identity_mrr
FROM chained
WHERE previous_mrr + new_mrr + reactivation_mrr + expansion_mrr - contraction_mrr - churned_mrr <> mrr
   OR previous_mrr <> prior_month_mrr
ORDER BY month, currency;
