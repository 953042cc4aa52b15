-- Stripe's documented balance-transaction reporting categories
-- (https://docs.stripe.com/reports/reporting-categories, see shared/stripe/REPORTS.md section 3).
-- A category not in this list is kept everywhere and counted in marts.reconciliation_summary as
-- unknown, so a new Stripe value is visible instead of silently lost or crashing the run.
CREATE SCHEMA IF NOT EXISTS staging;
CREATE OR REPLACE TABLE staging.stg_reporting_categories AS
SELECT category, category IN ('charge', 'refund', 'dispute', 'dispute_reversal') AS is_customer_movement
FROM (VALUES
    ('advance'), ('advance_funding'), ('anticipation_repayment'), ('charge'), ('charge_failure'),
    ('climate_order_purchase'), ('climate_order_refund'), ('connect_collection_transfer'),
    ('connect_reserved_funds'), ('contribution'), ('dispute'), ('dispute_reversal'), ('fee'),
    ('financing_paydown'), ('financing_paydown_reversal'), ('financing_payout'), ('financing_payout_reversal'),
    ('issuing_authorization_hold'), ('issuing_authorization_release'), ('issuing_dispute'),
    ('issuing_transaction'), ('network_cost'), ('obligation_outbound'), ('obligation_reversal_inbound'),
    ('other_adjustment'), ('partial_capture_reversal'), ('payment_network_reserve_hold'),
    ('payment_network_reserve_release'), ('payout'), ('payout_minimum_balance_hold'),
    ('payout_minimum_balance_release'), ('payout_reversal'), ('platform_earning'), ('platform_earning_refund'),
    ('refund'), ('refund_failure'), ('risk_reserved_funds'), ('tax'), ('topup'), ('topup_reversal'),
    ('transfer'), ('transfer_reversal'), ('unreconciled_customer_funds')
) AS t(category);
