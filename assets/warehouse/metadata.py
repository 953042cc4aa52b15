"""Dagster-native metadata for the warehouse's assets: column schema, table name, a preview, a code version.

Every staging relation, reconciliation output and mart reports, on each materialization, the standard keys the
Dagster UI renders natively:

* `dagster/column_schema`: the relation's columns and DuckDB types, read from the warehouse just built, each
  described by docs/metrics.md's column reference (`cashbook.column_docs`; staging relations are internal and
  undocumented there, so theirs carry types only);
* `dagster/table_name`: the fully qualified DuckDB name (`warehouse.<schema>.<table>`), so the catalog links the
  asset to the table analysts query;
* `preview` (marts only): the first rows as a Markdown table, so a reviewer sees what was built without opening
  DuckDB. Marts are small aggregates; staging relations and discrepancies can be large or sensitive and get none.

The `code_version` of each asset is a hash of the SQL file(s) that build it (`cashbook.sql_runner.code_version`),
set on its spec, so the UI flags an asset whose SQL changed since it was last materialized.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb

from cashbook.column_docs import column_descriptions, column_types

PREVIEW_ROWS = 10


def documented_schema(schema: str, table: str) -> dict[str, object]:
    """Definition-time metadata: the documented columns, so the catalog shows them before the first build.

    Each materialization then reports the schema as built (`table_metadata`), which the UI shows as current.
    """
    name = f"{schema}.{table}"
    meta: dict[str, object] = {"dagster/table_name": f"warehouse.{name}"}
    docs, types = column_descriptions().get(name), column_types().get(name, {})
    if docs:
        meta["dagster/column_schema"] = dg.TableSchema(columns=[
            dg.TableColumn(name=col, type=types.get(col, ""), description=text) for col, text in docs.items()])
    return meta


def column_schema(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dg.TableSchema:
    """Columns and types of `schema.table` as built, with the documented meaning of each (if any)."""
    docs = column_descriptions().get(f"{schema}.{table}", {})
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = current_database() "
        "AND table_schema = ? AND table_name = ? ORDER BY ordinal_position", [schema, table]).fetchall()
    if not rows:
        raise ValueError(f"{schema}.{table} does not exist in the warehouse: nothing to describe")
    return dg.TableSchema(columns=[dg.TableColumn(name=name, type=kind, description=docs.get(name))
                                   for name, kind in rows])


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def preview_markdown(con: duckdb.DuckDBPyConnection, schema: str, table: str, rows: int = PREVIEW_ROWS) -> str:
    """The first `rows` rows in the table's own order (its SQL's ORDER BY) as a Markdown table."""
    cur = con.execute(f'SELECT * FROM "{schema}"."{table}" LIMIT {int(rows)}')
    names = [d[0] for d in cur.description or []]
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in cur.fetchall()]
    return "\n".join(lines)


def table_metadata(con: duckdb.DuckDBPyConnection, schema: str, table: str, *,
                   preview: bool = False) -> dict[str, object]:
    """The standard metadata of one built relation (see the module docstring)."""
    database = con.execute("SELECT current_database()").fetchall()[0][0]  # "warehouse": both files' stem
    meta: dict[str, object] = {
        "dagster/column_schema": column_schema(con, schema, table),
        "dagster/table_name": f"{database}.{schema}.{table}",
    }
    if preview:
        meta["preview"] = dg.MetadataValue.md(preview_markdown(con, schema, table))
    return meta
