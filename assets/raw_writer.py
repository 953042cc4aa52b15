"""Write a run's window of rows into daily lake partitions, proving no row was lost on the way."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pyarrow as pa

from cashbook.lake import split_by_day, write_partition
from cashbook.sources.streams import lake_schema


def write_window(
    context: dg.AssetExecutionContext, lake_dir, table_name: str, data: pa.Table, time_column: str,
    days: list[dt.date], extra: dict | None = None,
) -> dict:
    """Split by UTC day and replace each day's file; returns the materialization metadata.

    All reading happened before the first write, so a failure leaves every day as it was.
    """
    data = data.select(lake_schema(table_name).names).cast(lake_schema(table_name))
    by_day = split_by_day(data, time_column, days)
    placed = sum(t.num_rows for t in by_day.values())
    if placed != data.num_rows:
        raise dg.Failure(
            f"{table_name}: {data.num_rows - placed} of {data.num_rows} rows fall outside the run's days "
            f"{days[0]}..{days[-1]}; refusing to drop them"
        )
    for day, part in by_day.items():
        write_partition(lake_dir, table_name, day, part)
    per_day = {d.isoformat(): t.num_rows for d, t in by_day.items()}
    context.log.info(f"{table_name}: wrote {data.num_rows} rows into {len(days)} day(s)")
    return {
        "dagster/row_count": data.num_rows,
        "days": len(days),
        "first_day": days[0].isoformat(),
        "last_day": days[-1].isoformat(),
        "busiest_day_rows": max(per_day.values()) if per_day else 0,
        **(extra or {}),
    }
