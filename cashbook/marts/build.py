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
from cashbook.settings import Settings
from cashbook.sql_runner import DUCKDB_SQL, MARTS, STAGING_METRICS, run_file, run_files, sql_files
from cashbook.warehouse import prepare

SQL_DIR = DUCKDB_SQL
FUNCTIONS_FILE = "000_functions.sql"

# Mart table -> the SQL file that creates it, in dependency (file-name) order: every file of sql/duckdb/marts but
# the session macros. The table a file creates is its name without the number (010_revenue_daily -> revenue_daily).
MART_PATHS: dict[str, Path] = {
    p.stem.split("_", 1)[1]: p for p in sql_files(MARTS) if p.name != FUNCTIONS_FILE
}
MART_FILES: dict[str, str] = {name: p.name for name, p in MART_PATHS.items()}
MART_TABLES = list(MART_FILES)


def prepare_session(con: duckdb.DuckDBPyConnection) -> None:
    """`warehouse.prepare` (UTC, schemas) plus the marts' shared macros (temp macros live per connection)."""
    prepare(con)
    run_file(con, DUCKDB_SQL / MARTS / FUNCTIONS_FILE)


def build_staging(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create the marts' staging relations (sql/duckdb/staging/metrics) from `raw.*`."""
    prepare_session(con)
    return run_files(con, sql_files(STAGING_METRICS))


def build_mart(con: duckdb.DuckDBPyConnection, mart: str) -> int:
    """(Re)build one mart table from its file; upstream marts and staging must exist. Returns its row count."""
    if mart not in MART_FILES:
        raise KeyError(f"unknown mart {mart!r}; known: {', '.join(MART_TABLES)}")
    prepare_session(con)
    run_file(con, MART_PATHS[mart])
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
