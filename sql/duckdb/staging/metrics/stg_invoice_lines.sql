-- staging.stg_invoice_lines: invoice lines unnested from the invoice object (`_raw.lines.data`).
-- Both API shapes are read: pre-basil (`price`/`plan`, `subscription`, `proration`, `type`) and basil
-- (`pricing.price_details.price`, `parent.subscription_item_details.{subscription,proration}`, `parent.type`).
-- A basil line does not embed the price, so its interval comes from the subscription's items.
-- Materialised as a table: JSON is parsed once per build, not once per mart.
CREATE OR REPLACE TABLE staging.stg_invoice_lines AS
WITH item_prices AS (
    -- recurring terms of every price a subscription item carries (for basil lines)
    SELECT DISTINCT
        subscription_id,
        coalesce(item->>'$.price.id', item->>'$.plan.id') AS price_id,
        coalesce(item->>'$.price.recurring.interval', item->>'$.plan.interval') AS recurring_interval,
        CAST(coalesce(item->>'$.price.recurring.interval_count', item->>'$.plan.interval_count') AS BIGINT)
            AS recurring_interval_count
    FROM (
        SELECT s.id AS subscription_id,
               unnest(CAST(coalesce(json_extract(s._raw, '$.items.data'), '[]') AS JSON[])) AS item
        FROM raw.stripe_subscriptions s
    )
),
lines AS (
    SELECT
        i.id            AS invoice_id,
        i.customer      AS customer_id,
        i.subscription  AS invoice_subscription_id,
        i.status        AS invoice_status,
        i.currency      AS invoice_currency,
        i.created       AS invoice_created,
        unnest(CAST(coalesce(json_extract(i._raw, '$.lines.data'), '[]') AS JSON[])) AS line
    FROM raw.stripe_invoices i
),
flat AS (
    SELECT
        line->>'$.id' AS line_id,
        invoice_id,
        customer_id,
        invoice_status,
        coalesce(line->>'$.currency', invoice_currency) AS currency,
        CAST(line->>'$.amount' AS BIGINT) AS amount,
        coalesce(list_sum(CAST(json_extract(line, '$.discount_amounts[*].amount') AS BIGINT[])), 0)::BIGINT
            AS discount_amount,
        coalesce(
            CAST(line->>'$.proration' AS BOOLEAN),
            CAST(line->>'$.parent.subscription_item_details.proration' AS BOOLEAN),
            false
        ) AS proration,
        CASE
            WHEN line->>'$.type' IS NOT NULL THEN line->>'$.type'
            WHEN line->>'$.parent.type' = 'subscription_item_details' THEN 'subscription'
            WHEN line->>'$.parent.type' = 'invoice_item_details' THEN 'invoiceitem'
            ELSE line->>'$.parent.type'
        END AS line_type,
        coalesce(
            line->>'$.subscription',
            line->>'$.parent.subscription_item_details.subscription',
            invoice_subscription_id
        ) AS subscription_id,
        coalesce(line->>'$.price.id', line->>'$.plan.id', line->>'$.pricing.price_details.price') AS price_id,
        coalesce(line->>'$.price.recurring.interval', line->>'$.plan.interval') AS line_interval,
        CAST(coalesce(line->>'$.price.recurring.interval_count', line->>'$.plan.interval_count') AS BIGINT)
            AS line_interval_count,
        CAST(line->>'$.period.start' AS BIGINT) AS period_start,
        CAST(line->>'$.period.end' AS BIGINT) AS period_end,
        invoice_created
    FROM lines
)
SELECT
    f.line_id,
    f.invoice_id,
    f.customer_id,
    f.subscription_id,
    f.invoice_status,
    f.currency,
    f.amount,
    f.discount_amount,
    f.proration,
    f.line_type,
    f.price_id,
    coalesce(f.line_interval, p.recurring_interval) AS recurring_interval,
    coalesce(f.line_interval_count, p.recurring_interval_count, 1) AS recurring_interval_count,
    f.period_start,
    f.period_end,
    f.invoice_created
FROM flat f
LEFT JOIN item_prices p
    ON f.line_interval IS NULL AND p.subscription_id = f.subscription_id AND p.price_id = f.price_id;
