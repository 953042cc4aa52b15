"""marts/*: one asset per mart, each running its own file under sql/duckdb/marts (full rebuild).

Marts are rebuilt whole rather than per partition: they are small aggregates over all history (an MRR
snapshot needs every invoice whose period covers the month end, wherever it was created), and a full
rebuild of 24 months of a 50,000-customer account takes seconds. Blocking checks on the raw partitions
stop these assets when the data they would read is bad.
"""

import dagster as dg

from assets.resources import WarehouseResource
from cashbook.lake import LAKE_TABLES
from cashbook.marts.build import build_mart, configure_fx
from cashbook.settings import get_settings

RAW = {t: dg.AssetKey(["raw", t]) for t in LAKE_TABLES}
STAGING = {name: dg.AssetKey(["staging", name])
           for name in ("stg_customers", "stg_subscriptions", "stg_invoices", "stg_invoice_lines")}


def mart_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["marts", name])


# mart -> (upstream keys, description)
MARTS: dict[str, tuple[list[dg.AssetKey], str]] = {
    "revenue_daily": ([RAW["stripe_balance_transactions"]],
                      "UTC day x settlement currency: gross, refunds, disputes net of reversals, fees, net, counts."),
    "revenue_monthly": ([mart_key("revenue_daily")],
                        "Calendar month x settlement currency; converted columns when a reporting currency is set."),
    "payment_health_daily": ([RAW["stripe_charges"]],
                             "UTC day x currency: charge attempts, succeeded, failed, success rate, top failure codes."),
    "mrr_movements": ([STAGING["stg_invoice_lines"], STAGING["stg_subscriptions"]],
                      "One row per customer x currency x month: previous and current MRR and the movement."),
    "mrr_monthly": ([mart_key("mrr_movements")],
                    "Month x currency: MRR, new, expansion, contraction, churn, reactivation, customers, ARPA."),
    "churn_monthly": ([mart_key("mrr_monthly")],
                      "Month x currency: customer churn rate, gross and net MRR churn rate."),
    "cohort_retention": ([mart_key("mrr_movements"), STAGING["stg_customers"]],
                         "Signup-month cohorts x months since signup: customers and MRR retained."),
}


def _build(name: str, deps: list[dg.AssetKey], description: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=mart_key(name),
        deps=deps,
        group_name="marts",
        kinds={"duckdb", "sql"},
        pool="duckdb",
        description=description,
    )
    def _mart(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        con = warehouse.connect()
        try:
            configure_fx(con, get_settings())
            rows = build_mart(con, name)
        finally:
            con.close()
        context.log.info(f"marts.{name}: {rows} rows")
        return dg.MaterializeResult(metadata={"dagster/row_count": rows, "table": f"marts.{name}"})

    return _mart


mart_assets = [_build(name, deps, desc) for name, (deps, desc) in MARTS.items()]
