"""Stage an export directory's streams for a window into the lake, one worker process per stream.

Reading an export is CPU-bound Python (JSON parsing, canonical `_raw`), so one process per stream uses
every core: each worker reads its stream's window, splits it by UTC day and writes the day files under
temporary names (`cashbook.lake.LakeStager`), and returns only the list of staged files. The caller
commits all of them together, or, when any stream fails, none: staged files of the streams that did
succeed are removed and every old partition stays as it was. A worker's `SourceError` (file:line: reason)
reaches the caller unchanged.

Workers are started with `spawn`: the caller may be a threaded process (a Dagster run), where `fork`
is unsafe. Streams are submitted largest file first so the big ones do not finish last.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import multiprocessing.popen_spawn_posix  # up front: starting workers imports nothing (see assets/raw_writer.py)
import os
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from pathlib import Path

from cashbook.lake import LakeStager, StagedWindow, discard
from cashbook.sources.export import read_window, stream_path
from cashbook.sources.streams import lake_schema, sort_columns, time_column

MAX_WORKERS = 4
_SPAWN = multiprocessing.get_context("spawn")
# Below this many bytes of JSON, starting worker processes (a Python, pyarrow and pandas each: about a
# second of CPU) costs more than it saves; the streams are read in this process instead.
PARALLEL_MIN_BYTES = 64 * 2**20


class StreamStageError(Exception):
    """A stream could not be staged; `stream` names it, `__cause__` is the original error."""

    def __init__(self, stream: str, error: BaseException) -> None:
        super().__init__(f"{stream}: {error}")
        self.stream, self.error = stream, error


def default_workers(export_dir: Path, streams: list[str]) -> int:
    total = sum(p.stat().st_size for s in streams if (p := stream_path(export_dir, s)).exists())
    if total < PARALLEL_MIN_BYTES:
        return 1
    return max(1, min(len(streams), os.cpu_count() or 1, MAX_WORKERS))


def stage_stream(export_dir: Path, stream: str, start: int, end: int, lake_dir: Path,
                 days: list[dt.date]) -> StagedWindow:
    """Read one stream's window and write its day files under temporary names (not committed)."""
    table = read_window(export_dir, stream, start, end, sort=False)
    name = f"stripe_{stream}"
    stager = LakeStager(lake_dir, days)
    try:
        window = stager.stage(name, table, time_column(stream), lake_schema(name), sort_by=sort_columns(stream))
        del table
        stager.wait()
    except BaseException:
        stager.discard()
        raise
    return window


def stage_export_streams(export_dir: Path, streams: list[str], start: int, end: int, lake_dir: Path,
                         days: list[dt.date], *, workers: int | None = None) -> dict[str, StagedWindow]:
    """Stage every stream's window (see the module docstring); raises StreamStageError naming the stream."""
    workers = workers or default_workers(export_dir, streams)
    if workers <= 1:
        staged: dict[str, StagedWindow] = {}
        try:
            for stream in streams:
                try:
                    staged[stream] = stage_stream(export_dir, stream, start, end, lake_dir, days)
                except Exception as exc:
                    raise StreamStageError(stream, exc) from exc
        except BaseException:
            discard(staged.values())
            raise
        return staged

    def size(stream: str) -> int:
        path = stream_path(export_dir, stream)
        return path.stat().st_size if path.exists() else 0

    ordered = sorted(streams, key=size, reverse=True)
    with ProcessPoolExecutor(max_workers=workers, mp_context=_SPAWN) as pool:
        futures: dict[Future[StagedWindow], str] = {
            pool.submit(stage_stream, export_dir, s, start, end, lake_dir, days): s for s in ordered}
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            for f in futures:
                f.cancel()
            wait(futures)  # let running workers finish, so their staged files can be removed
            discard(f.result() for f in futures if not f.cancelled() and f.exception() is None)
            first = failed[0]
            error = first.exception()
            assert error is not None
            raise StreamStageError(futures[first], error) from error
    return {s: f.result() for f, s in sorted(futures.items(), key=lambda kv: streams.index(kv[1]))}
