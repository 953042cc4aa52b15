"""The DuckDB warehouse: raw views over the lake, and running the layered SQL files.

Only one process may write the DuckDB file at a time; the pipeline serialises writers with the
Dagster pool `duckdb`, and the API never opens it (it reads Postgres).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential_jitter

from cashbook.lake import LAKE_TABLES
from cashbook.paths import SQL_DIR
from cashbook.settings import Settings
from cashbook.sources.streams import lake_schema

SCHEMAS = ("raw", "staging", "marts")


def sql_files(layer: str) -> list[Path]:
    """SQL files of a layer in execution order (file-name order: prefix them 010_, 020_...)."""
    return sorted((SQL_DIR / "duckdb" / layer).glob("*.sql"))


def _is_lock_conflict(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


@retry(
    retry=retry_if_exception(_is_lock_conflict),
    wait=wait_exponential_jitter(initial=0.2, max=5),
    stop=stop_after_delay(600),
    reraise=True,
)
def _open(path: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Another process holding the single-writer lock is waited for, not failed on.

    The Dagster pool `duckdb` already serialises pipeline writers; this covers everything else
    (an analyst's session, a CLI run) for up to ten minutes.
    """
    return duckdb.connect(path, read_only=read_only)


def connect(settings: Settings, *, read_only: bool = False, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    settings.cashbook_home.mkdir(parents=True, exist_ok=True)
    con = _open(str(settings.warehouse_path), read_only)
    prepare(con, threads=threads, read_only=read_only)
    if not read_only:
        refresh_raw_views(con, settings.lake_dir)
    return con


def prepare(con: duckdb.DuckDBPyConnection, *, threads: int | None = None, read_only: bool = False) -> None:
    """Session settings every cashbook connection needs: UTC, schemas."""
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if read_only:
        return
    for schema in SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")


def _empty(con: duckdb.DuckDBPyConnection, table: str) -> None:
    empty = pa.Table.from_pylist([], schema=lake_schema(table))  # noqa: F841 (read by DuckDB's replacement scan)
    con.execute(f"CREATE OR REPLACE TABLE raw.{table} AS SELECT *, NULL::DATE AS day FROM empty")


def refresh_raw_views(con: duckdb.DuckDBPyConnection, lake_dir: Path) -> None:
    """(Re)point `raw.<table>` at the lake; a table with no partitions yet is an empty typed table."""
    for table in LAKE_TABLES:
        files = list((lake_dir / table).glob("day=*/data.parquet"))
        con.execute(f"DROP VIEW IF EXISTS raw.{table}")
        con.execute(f"DROP TABLE IF EXISTS raw.{table}")
        if not files:
            _empty(con, table)
            continue
        pattern = str(lake_dir / table / "day=*" / "data.parquet")
        con.execute(
            f"CREATE VIEW raw.{table} AS SELECT * FROM read_parquet('{pattern}', hive_partitioning = true, "
            "hive_types = {'day': DATE})"
        )


def register_raw_tables(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    """Load in-memory Arrow tables as `raw.<table>` (the CLI path: no lake, same SQL)."""
    prepare(con)
    for table in LAKE_TABLES:
        data = tables.get(table)
        if data is None:
            _empty(con, table)
            continue
        con.register("_incoming", data)
        con.execute(f"CREATE OR REPLACE TABLE raw.{table} AS SELECT *, NULL::DATE AS day FROM _incoming")
        con.unregister("_incoming")


def run_sql_dir(con: duckdb.DuckDBPyConnection, layer: str, variables: dict[str, object] | None = None) -> list[str]:
    """Run every file of a layer; variables are bound with SET VARIABLE for getvariable() in SQL."""
    for name, value in (variables or {}).items():
        con.execute(f"SET VARIABLE {name} = ?", [value])
    ran = []
    for path in sql_files(layer):
        try:
            con.execute(path.read_text())
        except duckdb.Error as exc:
            raise RuntimeError(f"{path.relative_to(SQL_DIR.parent)}: {exc}") from exc
        ran.append(path.name)
    return ran
