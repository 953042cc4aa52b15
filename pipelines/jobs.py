"""A job per layer: raw ingestion (partitioned) and the warehouse (staging → reconciliation → marts → Postgres)."""

from __future__ import annotations

import dagster as dg

RAW_GROUPS = ("stripe", "ledger")

raw_selection = dg.AssetSelection.groups(*RAW_GROUPS)
warehouse_selection = dg.AssetSelection.all() - raw_selection

raw_job = dg.define_asset_job(
    "raw_daily",
    selection=raw_selection,
    description="Land Stripe streams and the ledger into the lake for a day or a range of days (single run).",
)
warehouse_job = dg.define_asset_job(
    "warehouse",
    selection=warehouse_selection,
    description="Rebuild staging, reconciliation and marts in DuckDB and publish them to Postgres.",
)
