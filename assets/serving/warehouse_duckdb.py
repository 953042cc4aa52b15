"""analytics/warehouse_duckdb: the read-only DuckDB file analysts open, `$CASHBOOK_HOME/warehouse.duckdb`.

Published after every staging relation and mart it copies has been built and its blocking checks have passed
(a run whose checks fail leaves analysts on the last good copy), by copying the pipeline's build file and
renaming the copy over the published file (cashbook.snapshot): analysts never wait for the pipeline, the
pipeline never waits for analysts, and nobody ever sees a half-built mart.

Runs at the end of the `warehouse` job; after a run that rebuilt only some marts (a subset from the UI or
`--select`), the sensor `analyst_warehouse_automation` republishes it once those runs have finished.
"""

import dagster as dg

from assets.marts.marts import MARTS, mart_key
from assets.resources import WarehouseResource
from assets.warehouse.reconciliation import RECONCILIATION_KEYS
from assets.warehouse.staging import STAGING_KEYS

WAREHOUSE_DUCKDB = dg.AssetKey(["analytics", "warehouse_duckdb"])

# Republish when anything it copies was rebuilt (and every blocking check upstream passed), once no upstream
# run is still in progress.
REPUBLISH = dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()


@dg.asset(
    key=WAREHOUSE_DUCKDB,
    deps=[*STAGING_KEYS, *RECONCILIATION_KEYS, *(mart_key(m) for m in MARTS)],
    group_name="serving",
    kinds={"duckdb"},
    pool="duckdb",
    automation_condition=REPUBLISH,
    description="$CASHBOOK_HOME/warehouse.duckdb, the file analysts open read-only: a consistent copy of the "
    "raw views, staging and marts, swapped in atomically after the marts pass their checks.",
)
def warehouse_duckdb(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    info = warehouse.publish_snapshot(run_id=context.run_id)
    context.log.info(f"published {info.path} ({info.tables} tables, {info.views} views, "
                     f"{info.bytes / 1e6:.1f} MB) in {info.seconds:.2f} s")
    metadata: dict = {"path": str(info.path), "tables": info.tables, "views": info.views,
                      "bytes": info.bytes, "publish_seconds": round(info.seconds, 3),
                      "published_at": info.published_at.isoformat()}
    if info.set_aside_wal is not None:
        context.log.warning(f"{info.path} had a write-ahead log (someone opened it for writing); "
                            f"moved it to {info.set_aside_wal}")
        metadata["set_aside_wal"] = str(info.set_aside_wal)
    return dg.MaterializeResult(metadata=metadata)
