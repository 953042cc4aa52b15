"""analytics/discrepancies: the reconciliation published to Postgres with its lifecycle."""

import dagster as dg

from assets.resources import PostgresResource, WarehouseResource
from assets.warehouse.reconciliation import DISCREPANCIES
from cashbook.discrepancy_lifecycle import COLUMNS, publish_discrepancies


@dg.asset(
    key=["analytics", "discrepancies"],
    deps=[DISCREPANCIES],
    group_name="serving",
    kinds={"postgres"},
    pool="duckdb",
    description="Postgres analytics.discrepancies: open/resolved, first/last seen, manual resolutions kept.",
)
def analytics_discrepancies(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, postgres: PostgresResource
) -> dg.MaterializeResult:
    con = warehouse.connect(read_only=True)
    try:
        rows = con.sql(f"SELECT {', '.join(COLUMNS)} FROM marts.discrepancies").to_arrow_table()
    finally:
        con.close()
    url = postgres.url()
    from cashbook.db.migrate import migrate

    migrate(url)
    counts = publish_discrepancies(url, rows, run_id=context.run_id)
    return dg.MaterializeResult(metadata={"dagster/row_count": rows.num_rows, **counts})
