"""analytics/*: each mart copied to Postgres (schema analytics) for the API and BI tools.

Publishing replaces a table's content in one transaction (cashbook.publish), so readers never see
a half-copied mart. A mart whose blocking checks failed is not published. `marts.discrepancies` is published
by assets/serving/discrepancies.py instead (it keeps each discrepancy's open/resolved lifecycle).
"""

import dagster as dg

from assets.marts.marts import MARTS, mart_key
from assets.resources import PostgresResource, WarehouseResource
from assets.warehouse.layers import require_upstream
from assets.warehouse.reconciliation import PAYOUTS, SUMMARY
from cashbook.publish import publish_table

PUBLISHED = [*MARTS, PAYOUTS.path[-1], SUMMARY.path[-1]]


def _build(name: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["analytics", name],
        deps=[mart_key(name)],
        group_name="serving",
        kinds={"postgres"},
        pool="duckdb",
        description=f"Postgres analytics.{name}: a copy of marts.{name}.",
    )
    def _publish(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                 postgres: PostgresResource) -> dg.MaterializeResult:
        con = warehouse.connect(read_only=True)
        try:
            require_upstream(con, dg.AssetKey(["analytics", name]), {("marts", name)}, set())
            rows = publish_table(con, f"marts.{name}", postgres.url(), f"analytics.{name}")
        finally:
            con.close()
        context.log.info(f"analytics.{name}: {rows} rows")
        return dg.MaterializeResult(metadata={"dagster/row_count": rows, "table": f"analytics.{name}"})

    return _publish


publish_assets = [_build(name) for name in PUBLISHED]
