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

from cashbook.lake import LakeError, LakeStager, StagedWindow
from cashbook.sources.streams import lake_schema


class WindowWriter:
    """Stages the tables of one run (`cashbook.lake.LakeStager`), turning lake errors into `dg.Failure`."""

    def __init__(self, stager: LakeStager) -> None:
        self.stager = stager

    def stage(self, table_name: str, data: pa.Table, time_column: str) -> StagedWindow:
        try:
            return self.stager.stage(table_name, data, time_column, lake_schema(table_name))
        except LakeError as exc:
            raise dg.Failure(description=f"{exc}; previous partition data left intact") from exc


@contextmanager
def landed(lake_dir: Path, days: list[dt.date]) -> Iterator[WindowWriter]:
    """Stage inside the block; on normal exit every staged table is committed, on any error none is.

    Day files are written in the background while the block reads the next table.
    """
    with LakeStager(lake_dir, days) as stager:
        yield WindowWriter(stager)


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
