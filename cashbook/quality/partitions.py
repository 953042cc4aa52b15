"""Validate the raw lake partitions a run just wrote (the days of its partition window)."""

from __future__ import annotations

import calendar
import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cashbook.lake import partition_path
from cashbook.quality.validate import QualityResult, validate_frame
from cashbook.sources.streams import lake_schema


def window_parameters(days: list[dt.date]) -> dict[str, int]:
    """`created` must fall inside [first day 00:00, last day + 1 00:00): bounds in Unix seconds, inclusive."""
    start = calendar.timegm(min(days).timetuple())
    end = calendar.timegm((max(days) + dt.timedelta(days=1)).timetuple())
    return {"window_start": start, "window_last": end - 1}


def read_partitions(lake_dir: Path, table: str, days: list[dt.date]) -> pd.DataFrame:
    """The rows of the given day files (a missing file reads as empty: the raw check reports row counts)."""
    parts = [pq.read_table(p) for d in days if (p := partition_path(lake_dir, table, d)).exists()]
    data = pa.concat_tables(parts, promote_options="permissive") if parts else lake_schema(table).empty_table()
    return data.to_pandas()


def check_partitions(lake_dir: Path, table: str, days: list[dt.date]) -> QualityResult:
    """Run the table's suite on the window's rows, with the window bounds as suite parameters."""
    if not days:
        raise ValueError("no days to check")
    return validate_frame(read_partitions(lake_dir, table, days), table, window_parameters(days))
