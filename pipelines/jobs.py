"""A job per layer: raw ingestion (partitioned) and the warehouse (staging → reconciliation → marts → publish).

Runs execute their steps in one process by default. The warehouse job's ~40 steps are short and every DuckDB
step is serialised by the `duckdb` pool anyway, so the multiprocess executor only adds a Python start and an
import of the whole code location per step (measured on the demo: docs/BENCHMARKS.md, "Warehouse run as users
launch it"). The default applies wherever a run is launched from: the `warehouse_after_raw` sensor, the job's
Launchpad, the global asset graph's Materialize button (Dagster's implicit asset job, which takes the code
location's executor: `DEFAULT_EXECUTOR`), `dagster job launch`. `execution: config: multiprocess: {}` in the
Launchpad still selects the multiprocess executor for a run.
"""

from __future__ import annotations

import dagster as dg

RAW_GROUPS = ("stripe", "ledger")
IN_PROCESS: dict = {"execution": {"config": {"in_process": {}}}}

# Dagster's multi_or_in_process executor (same config: `in_process` or `multiprocess`), defaulting to in_process.
DEFAULT_EXECUTOR = dg.multi_or_in_process_executor.configured(
    lambda config: config or {"in_process": {}},
    name="multi_or_in_process_executor",
    config_schema=dg.Field(dg.Permissive(), is_required=False, default_value={}),
)

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
    config=IN_PROCESS,
    description="Rebuild staging, reconciliation and marts in DuckDB, publish them to Postgres and publish the "
    "analysts' read-only warehouse.duckdb. Steps run in one process (see pipelines/jobs.py).",
)
