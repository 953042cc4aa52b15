"""Land a simulated export in the raw lake without a Dagster run (raw ingestion is tested on its own elsewhere).

The files are the ones the raw assets write: one Parquet file per table and UTC day, via cashbook.lake.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

from cashbook.lake import split_by_day, write_partition
from cashbook.sources.export import read_stream
from cashbook.sources.ledger_csv import read_ledger_csv
from cashbook.sources.streams import STRIPE_STREAMS, time_column


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


def land(lake: Path, export: Path, streams: list[str] | None = None, ledger_csv: Path | None = None) -> dict:
    """Write the chosen Stripe streams (default: all) and optionally the ledger; returns row counts."""
    counts: dict[str, int] = {}
    wanted = streams if streams is not None else list(STRIPE_STREAMS)
    payouts = read_stream(export, "payouts")
    created = dict(zip(payouts.column("id").to_pylist(), payouts.column("created").to_pylist(), strict=True))
    for stream in wanted:
        table = payouts if stream == "payouts" else read_stream(
            export, stream, payout_created=created if stream == "payout_balance_transactions" else None)
        if table.num_rows:
            _write(lake, f"stripe_{stream}", table, time_column(stream))
        counts[f"stripe_{stream}"] = table.num_rows
    if ledger_csv is not None:
        ledger = read_ledger_csv(ledger_csv)
        _write(lake, "ledger_entries", ledger, "occurred_at")
        counts["ledger_entries"] = ledger.num_rows
    return counts
