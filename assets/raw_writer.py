"""Dagster side of landing a run's window in the lake: stage every table, commit together, report per day.

The Dagster-free core (cast to the lake schema, split by UTC day, prove no row dropped, atomic write) is
`cashbook.lake`; this module turns its errors into `dg.Failure` and its counts into materialization metadata.
Each day's materialization carries its own row count (`dagster/row_count`), so the UI's partition view shows
what landed on that day, next to the run-wide facts (window, source) every day of the run shares.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pyarrow as pa

from cashbook.lake import LakeError, StagedWindow, commit, discard, stage_window
from cashbook.sources.streams import lake_schema


class WindowWriter:
    """Collects staged tables of one run; `landed()` commits them all, a failure discards them all."""

    def __init__(self, lake_dir: Path, days: list[dt.date]) -> None:
        self.lake_dir, self.days = lake_dir, days
        self.staged: list[StagedWindow] = []

    def stage(self, table_name: str, data: pa.Table, time_column: str) -> StagedWindow:
        try:
            window = stage_window(self.lake_dir, table_name, data, time_column, self.days, lake_schema(table_name))
        except LakeError as exc:
            raise dg.Failure(description=f"{exc}; previous partition data left intact") from exc
        self.staged.append(window)
        return window


@contextmanager
def landed(lake_dir: Path, days: list[dt.date]) -> Iterator[WindowWriter]:
    """Stage inside the block; on normal exit every staged table is committed, on any error none is."""
    writer = WindowWriter(lake_dir, days)
    try:
        yield writer
        commit(writer.staged)
    except BaseException:
        discard(writer.staged)  # a temp file already renamed is gone; unlink skips it
        raise


def materialize_result(context: dg.AssetExecutionContext, asset_key: dg.AssetKey, window: StagedWindow,
                       extra: dict | None = None) -> dg.MaterializeResult:
    """Metadata for a landed window: per day its own row count, for the run the window and totals."""
    days = sorted(window.rows_per_day)
    if context.has_partition_key_range and len(days) > 1:
        for day, rows in window.rows_per_day.items():
            context.add_asset_metadata({"dagster/row_count": rows}, asset_key=asset_key, partition_key=day.isoformat())
        row_count = {}
    else:
        row_count = {"dagster/row_count": window.rows}
    context.log.info(f"{window.table}: wrote {window.rows} rows into {len(days)} day(s)")
    return dg.MaterializeResult(asset_key=asset_key, metadata={
        **row_count,
        "run_rows": window.rows,
        "run_days": len(days),
        "first_day": days[0].isoformat(),
        "last_day": days[-1].isoformat(),
        "busiest_day_rows": max(window.rows_per_day.values()),
        **(extra or {}),
    })
