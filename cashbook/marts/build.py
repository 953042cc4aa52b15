"""Build the marts: run the staging and mart SQL files of sql/duckdb on a DuckDB connection.

Every mart is a full rebuild from the raw relations (`raw.*`): the marts are small aggregates, a
rebuild of 24 months of a 50,000-customer account takes seconds, and a rebuild cannot drift from its
inputs the way an incremental merge can. Each mart has its own file so each Dagster asset runs
exactly the SQL it owns; `000_functions.sql` (session macros) runs before any of them.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from cashbook.marts.fx import read_exchange_rates, set_exchange_rates
from cashbook.paths import SQL_DIR as PROJECT_SQL
from cashbook.settings import Settings

SQL_DIR = PROJECT_SQL / "duckdb"

# Staging views/tables the marts read (the reconciliation staging files are another layer's concern).
STAGING_FILES = ["stg_customers.sql", "stg_subscriptions.sql", "stg_invoices.sql", "stg_invoice_lines.sql"]

# Mart table -> the SQL file that creates it, in dependency order.
MART_FILES: dict[str, str] = {
    "revenue_daily": "010_revenue_daily.sql",
    "revenue_monthly": "020_revenue_monthly.sql",
    "payment_health_daily": "030_payment_health_daily.sql",
    "mrr_month_spine": "035_mrr_month_spine.sql",
    "mrr_customer_monthly": "038_mrr_customer_monthly.sql",
    "mrr_movements": "040_mrr_movements.sql",
    "mrr_monthly": "050_mrr_monthly.sql",
    "churn_monthly": "060_churn_monthly.sql",
    "cohort_retention": "070_cohort_retention.sql",
}
MART_TABLES = list(MART_FILES)
FUNCTIONS_FILE = "000_functions.sql"


class MartBuildError(RuntimeError):
    """A mart SQL file failed; the message names the file."""


def _run_file(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    try:
        con.execute(path.read_text())
    except duckdb.Error as exc:
        raise MartBuildError(f"{path.relative_to(SQL_DIR.parents[1])}: {exc}") from exc


def prepare_session(con: duckdb.DuckDBPyConnection) -> None:
    """UTC session, schemas and the shared macros (temp macros live per connection)."""
    con.execute("SET TimeZone = 'UTC'")
    for schema in ("raw", "staging", "marts"):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    _run_file(con, SQL_DIR / "marts" / FUNCTIONS_FILE)


def build_staging(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create the subscription/invoice/customer staging relations from `raw.*`."""
    prepare_session(con)
    for name in STAGING_FILES:
        _run_file(con, SQL_DIR / "staging" / name)
    return list(STAGING_FILES)


def build_mart(con: duckdb.DuckDBPyConnection, mart: str) -> int:
    """(Re)build one mart table from its file; upstream marts and staging must exist. Returns its row count."""
    if mart not in MART_FILES:
        raise KeyError(f"unknown mart {mart!r}; known: {', '.join(MART_TABLES)}")
    prepare_session(con)
    _run_file(con, SQL_DIR / "marts" / MART_FILES[mart])
    row = con.execute(f"SELECT count(*) FROM marts.{mart}").fetchone()
    return int(row[0]) if row else 0


def configure_fx(con: duckdb.DuckDBPyConnection, settings: Settings | None) -> int:
    """Load the reporting currency's rates (settings) into marts.exchange_rates; none -> empty table."""
    prepare_session(con)
    reporting = settings.reporting_currency if settings else None
    rates = read_exchange_rates(settings.exchange_rates_csv) if settings and settings.exchange_rates_csv else []
    return set_exchange_rates(con, reporting, rates)


def build_all(con: duckdb.DuckDBPyConnection, settings: Settings | None = None) -> dict[str, int]:
    """Staging, exchange rates, then every mart in dependency order; returns row counts per mart."""
    build_staging(con)
    configure_fx(con, settings)
    return {mart: build_mart(con, mart) for mart in MART_TABLES}
