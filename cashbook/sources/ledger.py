"""The company ledger for a time window, from every configured source, as one table of the lake's shape.

Sources are CSV files (DESIGN Contract 2, `ledger_csv`) and/or the billing API's Postgres table (`ledger_pg`).
This module decides what a window of "the ledger" is: each source read and cut to [start, end), bad CSV rows
quarantined to a rejects file when configured, and an `entry_id` found in two sources refused, because the
reconciliation could not tell which of the two entries is the real one. The Dagster resource
(`assets.resources.LedgerSourceResource`) only carries the configuration.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from cashbook.settings import expand_globs
from cashbook.sources.errors import SourceError
from cashbook.sources.streams import LEDGER_SCHEMA

LedgerSource = Literal["csv", "postgres", "both"]


def read_ledger_window(start: dt.datetime, end: dt.datetime, *, source: LedgerSource | str,
                       csv_patterns: list[str], quarantine_dir: Path | None = None,
                       postgres_url: str | None = None) -> tuple[pa.Table, dict[str, Any]]:
    """Entries with start <= occurred_at < end, ordered by (occurred_at, entry_id), and what was read
    (`source`, `csv_files`, `rejected_rows`, `rejects_files`).

    Every configured source must be readable: no CSV matching the patterns, or no ledger table when Postgres
    is a source, is an error, because an empty read would overwrite the window's partitions with nothing.
    """
    parts: list[pa.Table] = []
    info: dict[str, Any] = {"source": source, "rejected_rows": 0}
    rejects_files: list[str] = []
    if source in ("csv", "both"):
        from cashbook.sources.ledger_csv import read_ledger_csv

        files = expand_globs(csv_patterns)
        if not files:
            raise SourceError("LEDGER_CSV_PATHS", f"no ledger CSV file matches {', '.join(csv_patterns)}")
        info["csv_files"] = ", ".join(str(f) for f in files)
        for path in files:
            rejects = None
            if quarantine_dir is not None:
                rejects = quarantine_dir / f"{path.stem}.{start:%Y%m%d}-{end:%Y%m%d}.rejects.csv"
            table = read_ledger_csv(path, rejects=rejects)
            if rejects is not None and rejects.exists():
                with rejects.open() as fh:
                    info["rejected_rows"] += max(0, sum(1 for _ in fh) - 1)  # minus the header
                rejects_files.append(str(rejects))
            parts.append(_in_window(table, start, end).select(LEDGER_SCHEMA.names).cast(LEDGER_SCHEMA))
    if source in ("postgres", "both"):
        from cashbook.sources.ledger_pg import read_ledger_postgres

        if postgres_url is None:
            raise SourceError("LEDGER_SOURCE", "the Postgres ledger needs the postgres resource")
        parts.append(read_ledger_postgres(postgres_url, start, end))
    if not parts:
        return LEDGER_SCHEMA.empty_table(), info
    table = pa.concat_tables(parts)
    refuse_shared_entry_ids(table)
    if rejects_files:
        info["rejects_files"] = ", ".join(rejects_files)
    return table.sort_by([("occurred_at", "ascending"), ("entry_id", "ascending")]), info


def _in_window(table: pa.Table, start: dt.datetime, end: dt.datetime) -> pa.Table:
    col = table.column("occurred_at")
    lo, hi = pa.scalar(start, type=col.type), pa.scalar(end, type=col.type)
    return table.filter(pc.and_(pc.greater_equal(col, lo), pc.less(col, hi)))


def refuse_shared_entry_ids(table: pa.Table) -> None:
    """entry_id identifies a ledger entry across all sources; the same id in two places is ambiguous."""
    counts = table.group_by("entry_id").aggregate([("entry_id", "count")])
    dup = counts.filter(pc.greater(counts.column("entry_id_count"), 1))
    if dup.num_rows:
        entry_id = dup.column("entry_id")[0].as_py()
        where = table.filter(pc.equal(table.column("entry_id"), entry_id)).column("source").to_pylist()
        raise SourceError(" and ".join(where), f"entry_id {entry_id!r} appears in more than one ledger source "
                          f"({dup.num_rows} shared ids in all); give each source its own ids")
