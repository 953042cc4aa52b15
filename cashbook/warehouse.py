"""The DuckDB warehouse: raw views over the lake, and running the layered SQL files.

Two files, so analysts and the pipeline never lock each other out (docs/architecture.md, "DuckDB warehouse"):

* the **build file** `$CASHBOOK_HOME/pipeline/warehouse.duckdb` is the pipeline's working copy. Only pipeline
  steps open it; DuckDB allows one writing process, and the Dagster pool `duckdb` serialises the writers.
* the **published file** `$CASHBOOK_HOME/warehouse.duckdb` (`Settings.warehouse_path`) is what analysts, the
  report and BI tools open, read-only. Nothing ever writes it in place: after a warehouse run's marts pass their
  checks, `cashbook.snapshot` copies the build file to a new file and renames it over the old one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
from tenacity import RetryCallState, retry, retry_if_exception, stop_after_delay, wait_exponential_jitter

from cashbook.lake import LAKE_TABLES
from cashbook.settings import Settings
from cashbook.sources.streams import lake_schema
from cashbook.sql_runner import run_files, sql_files

log = logging.getLogger(__name__)

SCHEMAS = ("raw", "staging", "marts")
LOCK_WAIT_SECONDS = 600
_LOG_EVERY_SECONDS = 30.0


def build_path(settings: Settings) -> Path:
    """The pipeline's working DuckDB file (never opened by analysts)."""
    return settings.cashbook_home / "pipeline" / "warehouse.duckdb"


def published_path(settings: Settings) -> Path:
    """The read-only copy analysts open: replaced atomically after each warehouse run, never written in place."""
    return settings.warehouse_path


def _is_lock_conflict(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


class LockWaitLog:
    """Says, at the first retry and then every 30 s, that the run is waiting for another process's lock.

    Without it a step waiting for the lock looks hung: nothing is logged until the other process lets go.
    """

    def __init__(self, path: str, warn: Callable[[str], None] | None) -> None:
        self.path, self.warn = path, warn or log.warning
        self.started = time.monotonic()
        self.last = -_LOG_EVERY_SECONDS

    def __call__(self, state: RetryCallState) -> None:
        waited = time.monotonic() - self.started
        if waited - self.last < _LOG_EVERY_SECONDS:
            return
        self.last = waited
        exc = state.outcome.exception() if state.outcome else None
        self.warn(f"waiting for the DuckDB lock on {self.path} ({waited:.0f} s so far, giving up after "
                  f"{LOCK_WAIT_SECONDS} s): {str(exc).splitlines()[0] if exc else 'locked'}")


def _open(path: str, read_only: bool, warn: Callable[[str], None] | None = None) -> duckdb.DuckDBPyConnection:
    """Another process holding the single-writer lock is waited for (and logged), not failed on.

    The Dagster pool `duckdb` already serialises pipeline writers and analysts open the published file, so a
    wait here means someone opened the build file by hand or a CLI command is running.
    """
    opener = retry(
        retry=retry_if_exception(_is_lock_conflict),
        wait=wait_exponential_jitter(initial=0.2, max=5),
        stop=stop_after_delay(LOCK_WAIT_SECONDS),
        before_sleep=LockWaitLog(path, warn),
        reraise=True,
    )(duckdb.connect)
    return opener(path, read_only=read_only)


class WarehouseMissingError(RuntimeError):
    """A read-only open of a build file that has never been created: nothing has been built yet."""


def connect(settings: Settings, *, read_only: bool = False, threads: int | None = None,
            warn: Callable[[str], None] | None = None) -> duckdb.DuckDBPyConnection:
    """Open the build file (pipeline steps only; analysts open `published_path`)."""
    path = build_path(settings)
    if read_only and not path.exists():
        raise WarehouseMissingError(f"no warehouse has been built yet ({path} does not exist): materialize the "
                                    "staging and mart assets first")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _open(str(path), read_only, warn)
    prepare(con, threads=threads, read_only=read_only)
    if not read_only:
        refresh_raw_views(con, settings.lake_dir)
    return con


def prepare(con: duckdb.DuckDBPyConnection, *, threads: int | None = None, read_only: bool = False) -> None:
    """Session settings every cashbook connection needs: UTC, schemas, and the Parquet footer cache.

    The lake is one file per table and day (3,650 files for a year of ten tables), and a reconciliation or mart
    step scans the same files several times: with DuckDB's Parquet metadata cache each footer is read once per
    process (an entry is re-read when its file's modification time changes). The demo's reconciliation step:
    2.8–3.2 s instead of 4.3–5.2 s (issue 15 item 1)."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET parquet_metadata_cache = true")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if read_only:
        return
    for schema in SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _drop_table_named(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> None:
    """Drop `schema.name` if it is a table, so a view can take its place (DROP VIEW on a table is an error)."""
    rows = con.execute(
        "SELECT table_type FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?", [schema, name]
    ).fetchall()
    if rows and rows[0][0] == "BASE TABLE":
        con.execute(f"DROP TABLE {schema}.{_quote(name)}")


def empty_relation_sql(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """A SELECT with the lake table's columns and types (from cashbook.sources.streams) and no rows."""
    rel = con.from_arrow(pa.Table.from_pylist([], schema=lake_schema(table)))
    cols = [f"CAST(NULL AS {t}) AS {_quote(c)}" for c, t in zip(rel.columns, rel.types, strict=True)]
    return f"SELECT {', '.join(cols)}, CAST(NULL AS DATE) AS day WHERE false"


def _empty(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """`raw.<table>` as an empty typed view: a raw table never materialized reads as zero rows, not an error."""
    _drop_table_named(con, "raw", table)
    con.execute(f"CREATE OR REPLACE VIEW raw.{table} AS {empty_relation_sql(con, table)}")


def _has_partitions(lake_dir: Path, table: str) -> bool:
    return next((lake_dir / table).glob("day=*/data.parquet"), None) is not None


def _raw_relations(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str | None]]:
    """name -> (table type, the view's comment) of everything in schema raw, in one query."""
    rows = con.execute(
        "SELECT t.table_name, t.table_type, v.comment FROM information_schema.tables t "
        "LEFT JOIN duckdb_views() v ON v.database_name = t.table_catalog AND v.schema_name = t.table_schema "
        "AND v.view_name = t.table_name "
        "WHERE t.table_catalog = current_database() AND t.table_schema = 'raw'").fetchall()
    return {name: (kind, comment) for name, kind, comment in rows}


def refresh_raw_views(con: duckdb.DuckDBPyConnection, lake_dir: Path) -> None:
    """(Re)point `raw.<table>` at the lake; a table with no partitions yet is an empty typed view.

    Always a view (older build files may hold an empty *table* here: it is dropped first), so a table that
    lands later replaces its empty view in the next step of the same run. Each view carries a comment saying
    what it reads; a view that already reads the right thing is left alone (every pipeline step reconnects).
    """
    existing = _raw_relations(con)
    for table in LAKE_TABLES:
        if _has_partitions(lake_dir, table):
            pattern = str(lake_dir / table / "day=*" / "data.parquet").replace("'", "''")
            wanted = f"lake: {pattern}"
            body = (f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true, "
                    "hive_types = {'day': DATE})")
        else:
            wanted = f"empty: {hashlib.sha256(str(lake_schema(table)).encode()).hexdigest()[:16]}"
            body = ""
        kind, comment = existing.get(table, (None, None))
        if kind == "VIEW" and comment == wanted:
            continue
        if kind == "BASE TABLE":
            con.execute(f"DROP TABLE raw.{table}")
        con.execute(f"CREATE OR REPLACE VIEW raw.{table} AS {body or empty_relation_sql(con, table)}")
        con.execute(f"COMMENT ON VIEW raw.{table} IS '{wanted.replace(chr(39), chr(39) * 2)}'")


def register_raw_tables(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    """Load in-memory Arrow tables as `raw.<table>` (the CLI path: no lake, same SQL); absent ones are empty."""
    prepare(con)
    for table in LAKE_TABLES:
        data = tables.get(table)
        if data is None:
            _empty(con, table)
            continue
        if _is_view(con, "raw", table):
            con.execute(f"DROP VIEW raw.{table}")
        con.register("_incoming", data)
        con.execute(f"CREATE OR REPLACE TABLE raw.{table} AS SELECT *, NULL::DATE AS day FROM _incoming")
        con.unregister("_incoming")


def _is_view(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = ? AND table_name = ? AND table_type = 'VIEW'", [schema, name]).fetchall()
    return bool(rows and rows[0][0])


def run_sql_dir(con: duckdb.DuckDBPyConnection, folder: str, variables: dict[str, object] | None = None) -> list[str]:
    """Run every file of `sql/duckdb/<folder>` (cashbook.sql_runner); variables are bound for getvariable()."""
    return run_files(con, sql_files(folder), variables=variables)
