"""Land a simulated export in the raw lake without a Dagster run (raw ingestion is tested on its own elsewhere).

The files are the ones the raw assets write: one Parquet file per table and UTC day, via cashbook.lake.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from cashbook.lake import split_by_day, write_partition
from cashbook.sources.export import read_stream
from cashbook.sources.ledger_csv import read_ledger_csv
from cashbook.sources.registry import STRIPE_STREAMS
from cashbook.sources.streams import time_column


def _days(table: pa.Table, column: str) -> list[dt.date]:
    col = table.column(column)
    if pa.types.is_timestamp(col.type):
        return sorted({v.date() for v in col.to_pylist()})
    return sorted({dt.datetime.fromtimestamp(v, dt.UTC).date() for v in col.to_pylist()})


def _write(lake: Path, table_name: str, table: pa.Table, column: str) -> int:
    days = _days(table, column)
    parts = split_by_day(table, column, days)
    for day, part in parts.items():
        write_partition(lake, table_name, day, part)
    assert sum(p.num_rows for p in parts.values()) == table.num_rows
    return len(days)


def _before(table: pa.Table, column: str, before: dt.datetime | None) -> pa.Table:
    if before is None:
        return table
    col = table.column(column)
    limit = pa.scalar(before, type=col.type) if pa.types.is_timestamp(col.type) else int(before.timestamp())
    return table.filter(pc.less(col, limit))


def land(lake: Path, export: Path, streams: list[str] | None = None, ledger_csv: Path | None = None,
         before: dt.datetime | None = None) -> dict:
    """Write the chosen Stripe streams (default: all) and optionally the ledger; returns row counts.

    `before` keeps only what happened before that instant (the account as it was then)."""
    counts: dict[str, int] = {}
    wanted = streams if streams is not None else list(STRIPE_STREAMS)
    payouts = read_stream(export, "payouts")
    created = dict(zip(payouts.column("id").to_pylist(), payouts.column("created").to_pylist(), strict=True))
    for stream in wanted:
        table = payouts if stream == "payouts" else read_stream(
            export, stream, payout_created=created if stream == "payout_balance_transactions" else None)
        table = _before(table, time_column(stream), before)
        if table.num_rows:
            _write(lake, f"stripe_{stream}", table, time_column(stream))
        counts[f"stripe_{stream}"] = table.num_rows
    if ledger_csv is not None:
        ledger = _before(read_ledger_csv(ledger_csv), "occurred_at", before)
        _write(lake, "ledger_entries", ledger, "occurred_at")
        counts["ledger_entries"] = ledger.num_rows
    return counts
