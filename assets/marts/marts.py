"""marts/*: one asset per mart, each running its own file under sql/duckdb/marts (full rebuild).

Marts are rebuilt whole rather than per partition: they are small aggregates over all history (an MRR
snapshot needs every invoice whose period covers the month end, wherever it was created), and a full
rebuild of 24 months of a 50,000-customer account takes seconds. Blocking checks on the raw partitions
stop these assets when the data they would read is bad. Each mart's upstream is what its SQL file reads.
"""

import dagster as dg

from assets.resources import WarehouseResource
from assets.warehouse.layers import key_of, parse_sql_file, require_upstream
from assets.warehouse.metadata import documented_schema, table_metadata
from assets.warehouse.staging import RAW_KEYS, STAGING_KEYS
from cashbook.marts.build import FUNCTIONS_FILE, MART_PATHS, build_mart, configure_fx
from cashbook.sql_runner import DUCKDB_SQL, SqlFileError, code_version
from cashbook.sql_runner import MARTS as MART_FOLDER


def mart_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["marts", name])


DESCRIPTIONS = {
    "revenue_daily": "UTC day x settlement currency: gross, refunds, disputes net of reversals, fees, net, counts.",
    "revenue_monthly": "Calendar month x settlement currency; converted columns when a reporting currency is set.",
    "payment_health_daily": "UTC day x currency: charge attempts, succeeded, failed, success rate, top failure codes.",
    "mrr_month_spine": "One row per MRR snapshot month: its snapshot instant (last second, UTC) and is_complete.",
    "mrr_customer_monthly": "Customer x currency x month: the customer's MRR at the month-end snapshot (non-zero).",
    "mrr_movements": "One row per customer x currency x month: previous and current MRR and the movement.",
    "mrr_monthly": "Month x currency: MRR, new, expansion, contraction, churn, reactivation, customers, ARPA.",
    "churn_monthly": "Month x currency: customer churn rate, gross and net MRR churn rate.",
    "cohort_retention": "Signup-month cohorts x months since signup: customers and MRR retained.",
}
# Relations built in every mart step before its own file (000_functions.sql / configure_fx), not assets.
_SESSION = {("marts", "exchange_rates")}
_ASSETS = {tuple(k.path) for k in (*RAW_KEYS, *STAGING_KEYS)} | {("marts", m) for m in MART_PATHS}

READS = {name: set(parse_sql_file(path).reads) - _SESSION for name, path in MART_PATHS.items()}
# mart -> (upstream keys, description)
MARTS: dict[str, tuple[list[dg.AssetKey], str]] = {
    name: (sorted((key_of(r) for r in READS[name] if r in _ASSETS), key=lambda k: k.path), DESCRIPTIONS[name])
    for name in MART_PATHS
}
# A mart's result depends on its own file and on the session macros every mart step runs first.
VERSIONS = {name: code_version([DUCKDB_SQL / MART_FOLDER / FUNCTIONS_FILE, path]) for name, path in MART_PATHS.items()}


def _build(name: str, deps: list[dg.AssetKey], description: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=mart_key(name),
        deps=deps,
        group_name="marts",
        kinds={"duckdb", "sql"},
        pool="duckdb",
        description=description,
        code_version=VERSIONS[name],
        metadata=documented_schema("marts", name),
    )
    def _mart(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        con = warehouse.connect()
        try:
            require_upstream(con, mart_key(name), READS[name], set())
            configure_fx(con, warehouse.settings())
            try:
                rows = build_mart(con, name)
            except SqlFileError as exc:
                raise dg.Failure(str(exc)) from exc
            metadata = {"dagster/row_count": rows, "table": f"marts.{name}",
                        **table_metadata(con, "marts", name, preview=True)}
        finally:
            con.close()
        context.log.info(f"marts.{name}: {rows} rows")
        return dg.MaterializeResult(metadata=metadata)

    return _mart


mart_assets = [_build(name, deps, desc) for name, (deps, desc) in MARTS.items()]
