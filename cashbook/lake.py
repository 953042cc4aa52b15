"""The raw Parquet lake: one file per table per UTC day, replaced atomically.

A partition is written to a temporary file in the same folder and renamed over the old one, so a
run that fails half way leaves the previous day intact and a rerun is an idempotent overwrite.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

LAKE_TABLES = [
    "stripe_balance_transactions",
    "stripe_charges",
    "stripe_refunds",
    "stripe_disputes",
    "stripe_payouts",
    "stripe_payout_balance_transactions",
    "stripe_customers",
    "stripe_subscriptions",
    "stripe_invoices",
    "ledger_entries",
]


def partition_path(lake_dir: Path, table: str, day: dt.date) -> Path:
    return lake_dir / table / f"day={day.isoformat()}" / "data.parquet"


def write_partition(lake_dir: Path, table: str, day: dt.date, data: pa.Table) -> Path:
    """Replace one day's file atomically (write temp, fsync, rename)."""
    path = partition_path(lake_dir, table, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".data.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(data, tmp, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def split_by_day(table: pa.Table, time_column: str, days: Iterable[dt.date]) -> dict[dt.date, pa.Table]:
    """Split rows into the requested UTC days; every requested day gets a (possibly empty) table.

    `time_column` is Unix seconds (Stripe's `created`) or a UTC timestamp. Rows outside the requested
    days are returned under no key: callers compare row counts to prove nothing was dropped.
    """
    wanted = sorted(set(days))
    if table.num_rows == 0:
        return {d: table for d in wanted}
    col = table.column(time_column).combine_chunks()
    if pa.types.is_timestamp(col.type):
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[col.type.unit]
        seconds = col.cast(pa.int64()).to_numpy(zero_copy_only=False) // per_second
    else:
        seconds = col.to_numpy(zero_copy_only=False)
    day_index = seconds // 86400  # floor division: correct for times before 1970 too
    epoch = dt.date(1970, 1, 1)
    return {d: table.filter(pa.array(day_index == (d - epoch).days)) for d in wanted}


def existing_days(lake_dir: Path, table: str) -> list[dt.date]:
    base = lake_dir / table
    if not base.exists():
        return []
    days = []
    for p in base.iterdir():
        if p.name.startswith("day=") and (p / "data.parquet").exists():
            days.append(dt.date.fromisoformat(p.name[4:]))
    return sorted(days)
