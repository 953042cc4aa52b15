"""What each SQL file creates and reads, parsed from the files so the asset graph follows the SQL.

Every asset's upstream is exactly the relations its SQL reads, so selecting one mart with its upstream
(`+key:"marts/mrr_monthly"`) picks the staging tables it needs and nothing else, and the lineage shown in
the Dagster UI is the lineage of the SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

from cashbook.sql_runner import staging_files

_CREATE = re.compile(r"CREATE\s+OR\s+REPLACE\s+(?:TABLE|VIEW)\s+(\w+)\.(\w+)", re.I)
_REF = re.compile(r"\b(raw|staging|marts)\.(\w+)\b", re.I)
_COMMENT = re.compile(r"--[^\n]*")
Relation = tuple[str, str]
RAW_GROUPS_EXCLUDED = "not (group:stripe or group:ledger)"


@dataclass(frozen=True)
class SqlFile:
    path: Path
    creates: tuple[Relation, ...]
    reads: frozenset[Relation]  # relations of other files (never its own)


def parse_sql_file(path: Path) -> SqlFile:
    text = _COMMENT.sub("", Path(path).read_text())
    creates = tuple(dict.fromkeys((s.lower(), t.lower()) for s, t in _CREATE.findall(text)))
    reads = frozenset((s.lower(), t.lower()) for s, t in _REF.findall(text)) - set(creates)
    return SqlFile(Path(path), creates, reads)


def staging_sql_files() -> list[SqlFile]:
    """Every staging file (sql/duckdb/staging/recon and .../metrics), parsed."""
    return [parse_sql_file(p) for p in staging_files()]


def key_of(relation: Relation) -> dg.AssetKey:
    return dg.AssetKey(list(relation))


def select_hint(key: dg.AssetKey) -> str:
    """The `--select` that builds `key` with everything it needs (the raw groups are landed by their own job)."""
    return f"--select '+key:\"{key.to_user_string()}\" and {RAW_GROUPS_EXCLUDED}'"


def missing_relations(con: duckdb.DuckDBPyConnection, wanted: set[Relation]) -> list[Relation]:
    """Which of `wanted` do not exist in the connected warehouse (as a table or a view)."""
    if not wanted:
        return []
    existing = {(s, t) for s, t in con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = current_database()"
    ).fetchall()}
    return sorted(wanted - existing)


def require_upstream(con: duckdb.DuckDBPyConnection, key: dg.AssetKey, reads: set[Relation],
                     built_here: set[Relation]) -> None:
    """Fail with what to select when `key` reads a relation that neither exists nor is built in this step."""
    missing = missing_relations(con, {r for r in reads if r[0] != "raw"} - built_here)
    if missing:
        names = ", ".join(key_of(r).to_user_string() for r in missing)
        raise dg.Failure(
            f"{key.to_user_string()} reads {names}, which has not been built in this warehouse yet and is not "
            f"selected in this run. Select it too, e.g. {select_hint(key)}",
            metadata={"missing_upstream": names, "select": select_hint(key)},
        )
