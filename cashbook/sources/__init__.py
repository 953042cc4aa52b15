"""Where raw data comes from: Stripe (export directory or API) and the company ledger.

Every source yields the same Arrow tables (schemas in `cashbook.sources.streams`), so the raw lake
does not care which source filled it.
"""
