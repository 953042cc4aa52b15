"""SQL invariants GX cannot express, each a query in sql/duckdb/marts/checks/ returning the offending rows.

An empty result passes. The first 20 rows go into the Dagster check's metadata, so whoever looks
at a failure sees which month/currency/row broke it without opening DuckDB.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from typing import Any

import duckdb

from cashbook.paths import SQL_DIR

CHECKS_DIR = SQL_DIR / "duckdb" / "marts" / "checks"
MAX_ROWS = 20


@dataclass
class InvariantResult:
    name: str
    failing_count: int
    failing_rows: list[dict[str, Any]]

    @property
    def passed(self) -> bool:
        return self.failing_count == 0


def _plain(v: Any) -> Any:
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v)
    return v


def invariant_names() -> list[str]:
    return sorted(p.stem for p in CHECKS_DIR.glob("*.sql"))


def run_invariant(con: duckdb.DuckDBPyConnection, name: str) -> InvariantResult:
    path = CHECKS_DIR / f"{name}.sql"
    if not path.exists():
        raise KeyError(f"no invariant {name!r} in {CHECKS_DIR}")
    query = path.read_text().strip().rstrip(";")
    cur = con.execute(query)
    cols = [d[0] for d in cur.description or []]
    found = cur.fetchall()  # invariant queries return only offending rows: few by construction
    rows = [{c: _plain(v) for c, v in zip(cols, r, strict=True)} for r in found[:MAX_ROWS]]
    return InvariantResult(name, len(found), rows)
