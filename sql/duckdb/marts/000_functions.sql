-- Session macros the marts share. Integer-only: money never passes through floating point.
-- div_half_even(n, d): n / d rounded half to even (banker's rounding), for d > 0 (DESIGN: MRR rounding).
CREATE OR REPLACE TEMP MACRO div_half_even(n, d) AS (
    ((CAST(n AS HUGEINT) - (((CAST(n AS HUGEINT) % d) + d) % d)) // d)
    + CASE
        WHEN 2 * ((((CAST(n AS HUGEINT) % d) + d) % d)) > d THEN 1
        WHEN 2 * ((((CAST(n AS HUGEINT) % d) + d) % d)) = d
             AND ((CAST(n AS HUGEINT) - (((CAST(n AS HUGEINT) % d) + d) % d)) // d) % 2 <> 0 THEN 1
        ELSE 0
      END
);

-- safe_ratio(a, b): a / b as a DOUBLE rate, NULL when b is 0 (rates are not money).
CREATE OR REPLACE TEMP MACRO safe_ratio(a, b) AS (
    CASE WHEN b = 0 OR b IS NULL THEN NULL ELSE CAST(a AS DOUBLE) / CAST(b AS DOUBLE) END
);

-- Exchange rates for the optional reporting currency: loaded by cashbook.marts.fx before the marts run
-- (empty when no CSV is configured, so converted columns are NULL and nothing mixes currencies).
CREATE TABLE IF NOT EXISTS marts.exchange_rates (
    currency VARCHAR, rate_date DATE, rate DECIMAL(38, 12), reporting_currency VARCHAR
);

-- currency_exponent(c): Stripe's minor-unit exponent (mirrors cashbook.money.exponent).
CREATE OR REPLACE TEMP MACRO currency_exponent(c) AS (
    CASE
        WHEN lower(c) IN ('bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd',
                          'vuv', 'xaf', 'xof', 'xpf') THEN 0
        WHEN lower(c) IN ('bhd', 'jod', 'kwd', 'omr', 'tnd') THEN 3
        ELSE 2
    END
);

-- convert_minor(amount, currency, rate, reporting_currency): minor units of `currency` into minor units of
-- the reporting currency at `rate` (reporting major units per 1 major unit), rounded half-even; NULL without a rate.
CREATE OR REPLACE TEMP MACRO convert_minor(amount, currency, rate, reporting_currency) AS (
    CASE
        WHEN rate IS NULL OR reporting_currency IS NULL THEN NULL
        WHEN currency = reporting_currency THEN CAST(amount AS BIGINT)
        ELSE CAST(div_half_even(
            CAST(amount AS HUGEINT) * CAST(rate * 1000000000000 AS HUGEINT)
                * CAST(pow(10, currency_exponent(reporting_currency)) AS HUGEINT),
            CAST(1000000000000 AS HUGEINT) * CAST(pow(10, currency_exponent(currency)) AS HUGEINT)
        ) AS BIGINT)
    END
);
