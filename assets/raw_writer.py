"""Dagster side of landing a run's window in the lake: stage every table, commit together, report per day.

The Dagster-free core (cast to the lake schema, split by UTC day, prove no row dropped, atomic write) is
`cashbook.lake`; this module turns its errors into `dg.Failure` and its counts into materialization metadata.
Each day's materialization carries its own row count (`dagster/row_count`), so the UI's partition view shows
what landed on that day, next to the run-wide facts (window, source) every day of the run shares.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa

from cashbook.lake import LakeError, LakeStager, StagedWindow
from cashbook.quality.validate import warm_up
from cashbook.sources.export_stage import StreamStageError, default_workers, stage_export_streams
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

    def stage_export(self, export_dir: Path, streams: list[str], start: dt.datetime, end: dt.datetime
                     ) -> dict[str, StagedWindow]:
        """Stage Stripe streams from an export directory, one worker process per stream."""
        # With worker processes, this process only waits on them; meanwhile it loads Great Expectations for the
        # blocking checks that run right after this step, in this process (seconds of imports otherwise spent
        # on their own). Joined before anything else happens here, so no other import runs alongside.
        workers = default_workers(Path(export_dir), streams)
        warm = threading.Thread(target=warm_up, name="gx-warm-up", daemon=True)
        if workers > 1:
            warm.start()
        try:
            staged = stage_export_streams(Path(export_dir), streams, int(start.timestamp()), int(end.timestamp()),
                                          self.stager.lake_dir, self.stager.days, workers=workers)
        except StreamStageError as exc:
            raise dg.Failure(description=f"raw/stripe_{exc.stream}: {exc.error}; previous partition data left "
                                         "intact") from exc.error
        finally:
            if warm.is_alive():
                warm.join()
        return {stream: self.stager.adopt(window) for stream, window in staged.items()}


@contextmanager
def landed(lake_dir: Path, days: list[dt.date]) -> Iterator[WindowWriter]:
    """Stage inside the block; on normal exit every staged table is committed, on any error none is.

    Day files are written in the background while the block reads the next table.
    """
    with LakeStager(lake_dir, days) as stager:
        yield WindowWriter(stager)


def add_partition_metadata(context: dg.AssetExecutionContext, asset_key: dg.AssetKey,
                           per_partition: Mapping[str, Mapping[str, Any]]) -> None:
    """`context.add_asset_metadata(md, asset_key=..., partition_key=p)` for many partitions in one step.

    Dagster's method re-derives the run's partition keys and copies every entry collected so far on each
    call, which is quadratic: about 4 s of CPU for a year of ten tables. This builds the same accumulator
    once; should Dagster's internals move, it falls back to the public method.
    """
    unknown = set(per_partition) - set(context.partition_keys)
    if unknown:
        raise dg.DagsterInvariantViolationError(f"partitions {sorted(unknown)[:3]} are not targeted by this run")
    try:
        from dagster._core.execution.context.metadata_logging import (
            AssetMetadataHandle,
            OutputMetadataAccumulator,
        )

        step = context.get_step_execution_context()
        merged = dict(step._metadata_accumulator.per_output_metadata)
    except (ImportError, AttributeError):
        for key, metadata in per_partition.items():
            context.add_asset_metadata(dict(metadata), asset_key=asset_key, partition_key=key)
        return
    for key, metadata in per_partition.items():
        handle = AssetMetadataHandle(asset_key=asset_key, partition_key=key)
        merged[handle] = {**merged.get(handle, {}), **metadata}
    step._metadata_accumulator = OutputMetadataAccumulator(per_output_metadata=merged)


def materialize_result(context: dg.AssetExecutionContext, asset_key: dg.AssetKey, window: StagedWindow,
                       extra: Mapping[str, Any] | None = None) -> dg.MaterializeResult:
    """Each day: its own row count (and the source). The newest day of the run, which the asset page shows
    as the latest materialization, also carries the run's window and totals; repeating them on every day
    only made each of a year's 365 events bigger to write."""
    days = sorted(window.rows_per_day)
    source = {"source": extra["source"]} if extra and "source" in extra else {}
    per_day: dict[str, dict[str, Any]] = {
        day.isoformat(): {"dagster/row_count": rows, **source} for day, rows in window.rows_per_day.items()}
    per_day[days[-1].isoformat()].update({
        "run_rows": window.rows,
        "run_days": len(days),
        "first_day": days[0].isoformat(),
        "last_day": days[-1].isoformat(),
        "busiest_day_rows": max(window.rows_per_day.values()),
        **(extra or {}),
    })
    add_partition_metadata(context, asset_key, per_day)
    context.log.info(f"{window.table}: wrote {window.rows} rows into {len(days)} day(s)")
    return dg.MaterializeResult(asset_key=asset_key)
