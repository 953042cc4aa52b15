"""Publish a DuckDB table to Postgres with psycopg COPY, replacing its content in one transaction.

DuckDB's postgres extension downloads at run time (no network here), so rows travel as CSV:
DuckDB writes the table to a temporary CSV file (fast, typed, quoted: an empty string stays `""`,
NULL stays empty) and psycopg streams it into `COPY ... FROM STDIN`. Readers (the API) see either
the old or the new content, never a half-written table: create/alter, truncate and copy commit together.
If the DuckDB columns changed, the Postgres table is recreated with the new shape in the same transaction.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psycopg
from psycopg import sql

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
_SIMPLE_TYPES = {
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "numeric(39,0)",
    "UBIGINT": "numeric(20,0)",
    "UINTEGER": "bigint",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "VARCHAR": "text",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "UUID": "uuid",
    "JSON": "jsonb",
}
_DECIMAL_RE = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
_CHUNK = 1 << 20


class PublishError(RuntimeError):
    """The table cannot be published (bad name, unknown source table)."""


@dataclass(frozen=True)
class Column:
    name: str
    duck_type: str

    @property
    def pg_type(self) -> str:
        if self.duck_type in _SIMPLE_TYPES:
            return _SIMPLE_TYPES[self.duck_type]
        m = _DECIMAL_RE.match(self.duck_type)
        if m:
            return f"numeric({m.group(1)},{m.group(2)})"
        return "text"  # lists, structs, maps: published as their DuckDB text form

    @property
    def select_expr(self) -> str:
        quoted = '"' + self.name.replace('"', '""') + '"'
        if self.pg_type == "text" and self.duck_type != "VARCHAR":
            return f"CAST({quoted} AS VARCHAR) AS {quoted}"
        return quoted


def _split(name: str) -> tuple[str, str]:
    if not _NAME_RE.match(name):
        raise PublishError(f"table name {name!r} must be schema.table in lower case")
    schema, table = name.split(".")
    return schema, table


def duckdb_columns(con: duckdb.DuckDBPyConnection, source: str) -> list[Column]:
    schema, table = _split(source)
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position", [schema, table]).fetchall()
    if not rows:
        raise PublishError(f"DuckDB table {source} does not exist")
    return [Column(n, t) for n, t in rows]


def _pg_columns(conn: psycopg.Connection, schema: str, table: str) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (schema, table)).fetchall()
    return [(r[0], r[1]) for r in rows]


def _normal(pg_type: str) -> str:
    return pg_type.replace(", ", ",").replace("timestamp with time zone", "timestamptz").replace(
        "timestamp without time zone", "timestamp")


def publish_table(duck: duckdb.DuckDBPyConnection, source: str, pg_url: str, target: str) -> int:
    """Replace Postgres `target` (schema.table) with the rows of DuckDB `source`; returns the row count."""
    cols = duckdb_columns(duck, source)
    t_schema, t_table = _split(target)
    s_schema, s_table = _split(source)
    with tempfile.TemporaryDirectory(prefix="cashbook-publish-") as tmp:
        csv_path = Path(tmp) / "rows.csv"
        select = ", ".join(c.select_expr for c in cols)
        duck.execute(f"COPY (SELECT {select} FROM {s_schema}.{s_table}) TO '{csv_path}' (FORMAT csv, HEADER false)")
        wanted = [(c.name, c.pg_type) for c in cols]
        ident = sql.Identifier(t_schema, t_table)
        with psycopg.connect(pg_url) as conn:  # one transaction: commit on success, rollback on error
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(t_schema)))
            existing = _pg_columns(conn, t_schema, t_table)
            if [(n, _normal(t)) for n, t in existing] != [(n, _normal(t)) for n, t in wanted]:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
                defs = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in wanted)
                conn.execute(sql.SQL("CREATE TABLE {} ({})").format(ident, defs))
            else:
                conn.execute(sql.SQL("TRUNCATE {}").format(ident))
            copy_sql = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
                ident, sql.SQL(", ").join(sql.Identifier(c.name) for c in cols))
            with conn.cursor() as cur:
                with cur.copy(copy_sql) as copy, csv_path.open("rb") as fh:
                    while chunk := fh.read(_CHUNK):
                        copy.write(chunk)
                count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident)).fetchone()
    return int(count[0]) if count else 0
