"""staging/*: typed, cleaned tables over the raw lake, rebuilt in one step (cheap, and never half-built)."""

import dagster as dg

from assets.resources import WarehouseResource
from assets.warehouse.layers import created_tables
from cashbook.lake import LAKE_TABLES
from cashbook.warehouse import run_sql_dir

RAW_KEYS = [dg.AssetKey(["raw", t]) for t in LAKE_TABLES]
STAGING_KEYS = [dg.AssetKey(["staging", t]) for _, t in created_tables("staging", "staging")]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(key, deps=RAW_KEYS, group_name="staging", kinds={"duckdb"},
                     description=f"sql/duckdb/staging: {key.path[-1]}")
        for key in STAGING_KEYS
    ],
    pool="duckdb",
    can_subset=False,
)
def staging_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    con = warehouse.connect()
    try:
        ran = run_sql_dir(con, "staging")
        for key in STAGING_KEYS:
            n = con.execute(f"SELECT count(*) FROM staging.{key.path[-1]}").fetchone()[0]
            yield dg.MaterializeResult(asset_key=key, metadata={"dagster/row_count": n})
        context.log.info(f"ran {len(ran)} staging files")
    finally:
        con.close()
