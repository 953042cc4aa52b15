"""The raw Parquet lake: one file per table per UTC day, replaced atomically.

A partition is written to a temporary file in the same folder and renamed over the old one, so a
run that fails half way leaves the previous day intact and a rerun is an idempotent overwrite.

Writing a window is two phases so that several tables land together or not at all (`LakeStager`): staging
casts the rows to the lake schema, splits them by UTC day, proves no row was dropped and writes every day
to a hidden temporary file; committing makes the staged files durable (one `syncfs` of the lake's file
system, see `_make_durable`), then renames them over the old ones, and a failure anywhere removes them
instead. Both the Dagster raw assets and `cashbook stripe-pull` use this.

Day files are written by a small thread pool: Parquet encoding releases the GIL, and a year of ten tables is
3,650 files.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import os
import sys
import uuid
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# The lake's tables are named by the stream registry; re-exported for the warehouse and its staging assets.
from cashbook.sources.registry import LAKE_TABLES as LAKE_TABLES

WRITE_THREADS = 8
_EPOCH = dt.date(1970, 1, 1)


class LakeError(ValueError):
    """Rows that cannot be placed in the requested partitions; nothing was written."""


def partition_path(lake_dir: Path, table: str, day: dt.date) -> Path:
    return lake_dir / table / f"day={day.isoformat()}" / "data.parquet"


def _write_temp(path: Path, data: pa.Table) -> Path:
    """Write `data` next to `path` under a hidden temporary name; returns the temporary path.

    Not yet durable: `commit` makes every staged file durable before the first rename (`_make_durable`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".data.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(data, tmp, compression="zstd")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _syncfs(directory: Path) -> bool:
    """Flush the file system holding `directory` (Linux `syncfs`); False where the call does not exist."""
    call = getattr(_LIBC, "syncfs", None)
    if call is None:
        return False
    fd = os.open(directory, os.O_RDONLY)
    try:
        failed = call(fd) != 0
    finally:
        os.close(fd)
    if failed:
        err = ctypes.get_errno()
        raise OSError(err, f"syncfs {directory}: {os.strerror(err)}")
    return True


def _make_durable(files: list[Path], pool: ThreadPoolExecutor | None) -> None:
    """Every staged file on disk before any rename makes one visible.

    One `syncfs` of the lake's file system instead of an fsync per file: a year of ten tables is 3,650 small
    files, and each fsync waited for its own journal commit (the demo's raw step spent 1.5 of its 10 s of
    staging there). Where there is no `syncfs`, each file is fsynced as before. A failure raises, and
    `LakeStager.commit` then discards everything staged: nothing is renamed."""
    if not files:
        return
    # One flush per file system the files are on (a table folder may be a mount of its own).
    per_device: dict[int, Path] = {}
    for folder in {f.parent for f in files}:
        per_device.setdefault(os.stat(folder).st_dev, folder)
    if all([_syncfs(folder) for folder in per_device.values()]):
        return
    if pool is None or len(files) == 1:
        for f in files:
            _fsync(f)
    else:
        list(pool.map(_fsync, files))


def _write_part(path: Path, rows: _Rows, order: np.ndarray | None, lo: int, hi: int) -> Path:
    return _write_temp(path, _day_part(rows, order, lo, hi))


def write_partition(lake_dir: Path, table: str, day: dt.date, data: pa.Table) -> Path:
    """Replace one day's file atomically (write temp, fsync, rename)."""
    path = partition_path(lake_dir, table, day)
    tmp = _write_temp(path, data)
    try:
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def unix_seconds(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Unix seconds of a `created`-style int column or a UTC timestamp column."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_timestamp(col.type):
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[col.type.unit]
        return col.cast(pa.int64()).to_numpy(zero_copy_only=False) // per_second
    return col.to_numpy(zero_copy_only=False)


def _day_ranges(table: pa.Table, time_column: str, days: list[dt.date], sort_by: list[str] | None
                ) -> tuple[np.ndarray | None, dict[dt.date, tuple[int, int]]]:
    """Row order (None: as given) and each requested day's [lo, hi) positions in that order.

    With `sort_by` (time column first), rows are ordered by those columns, so each day comes out sorted;
    only the indices are sorted, never the table, so a big window is not held twice in memory.
    """
    if table.column(time_column).null_count:
        raise LakeError(f"{table.num_rows} rows: {table.column(time_column).null_count} have no {time_column}")
    order: np.ndarray | None = None
    if sort_by and table.num_rows > 1:
        idx = pc.sort_indices(table.select(sort_by), sort_keys=[(c, "ascending") for c in sort_by]).to_numpy()
        idx = idx.astype(np.int64)
        if np.any(idx != np.arange(len(idx))):
            order = idx
    seconds = unix_seconds(table.column(time_column))
    day_index = (seconds if order is None else seconds[order]) // 86400  # floor: correct before 1970 too
    if np.any(day_index[1:] < day_index[:-1]):
        regroup = np.argsort(day_index, kind="stable")
        order = regroup if order is None else order[regroup]
        day_index = day_index[regroup]
    keys = np.array([(d - _EPOCH).days for d in days], dtype=day_index.dtype)
    lo = np.searchsorted(day_index, keys, side="left")
    hi = np.searchsorted(day_index, keys, side="right")
    return order, {d: (int(a), int(b)) for d, a, b in zip(days, lo, hi, strict=True)}


class _Rows:
    """A table's record batches and where each starts, to gather rows without concatenating columns.

    `Table.take` on a table of many batches first concatenates every column into one array; done once per
    day of a large window, that copied the whole window hundreds of times (minutes and gigabytes for a year
    of invoices). Gathering from each batch only the rows it holds costs what the day costs.
    """

    def __init__(self, table: pa.Table) -> None:
        self.schema = table.schema
        self.batches = table.to_batches()
        self.starts = np.cumsum([0] + [b.num_rows for b in self.batches], dtype=np.int64)

    def slice(self, lo: int, hi: int) -> pa.Table:
        return pa.Table.from_batches(self.batches, schema=self.schema).slice(lo, hi - lo)

    def take(self, indices: np.ndarray) -> pa.Table:
        if not len(indices):
            return self.schema.empty_table()
        chunk = np.searchsorted(self.starts, indices, side="right") - 1
        parts, positions = [], []
        for c in np.unique(chunk):
            picked = np.flatnonzero(chunk == c)
            parts.append(self.batches[c].take(pa.array(indices[picked] - self.starts[c])))
            positions.append(picked)
        gathered = pa.Table.from_batches(parts, schema=self.schema).combine_chunks()  # day-sized
        where = np.empty(len(indices), dtype=np.int64)
        where[np.concatenate(positions)] = np.arange(len(indices))
        return gathered.take(pa.array(where))


def _day_part(rows: _Rows, order: np.ndarray | None, lo: int, hi: int) -> pa.Table:
    return rows.slice(lo, hi) if order is None else rows.take(order[lo:hi])


def split_by_day(table: pa.Table, time_column: str, days: Iterable[dt.date],
                 sort_by: list[str] | None = None) -> dict[dt.date, pa.Table]:
    """Split rows into the requested UTC days; every requested day gets a (possibly empty) table.

    `time_column` is Unix seconds (Stripe's `created`) or a UTC timestamp. Rows keep their order within
    a day (or follow `sort_by`). Rows outside the requested days are returned under no key: callers
    compare row counts to prove nothing was dropped.
    """
    wanted = sorted(set(days))
    if table.num_rows == 0:
        return {d: table for d in wanted}
    order, ranges = _day_ranges(table, time_column, wanted, sort_by)
    rows = _Rows(table)
    return {d: _day_part(rows, order, lo, hi) for d, (lo, hi) in ranges.items()}


@dataclass
class StagedWindow:
    """One table's day files written under temporary names, not yet visible to readers."""

    table: str
    rows: int
    rows_per_day: dict[dt.date, int]
    files: list[tuple[Path, Path]] = field(default_factory=list)  # (temporary, final)


class LakeStager:
    """Stages several tables of one window, then commits them together or discards them all.

    `stage` validates and splits synchronously (so a bad window fails before anything is written) and
    hands the day files to a shared thread pool, so the caller can read the next table while this one is
    written. `commit` waits for every write, then renames; any failed write, or `discard`, removes every
    staged file and leaves the old partitions as they were. Used as a context manager: commit on normal
    exit, discard on error.
    """

    def __init__(self, lake_dir: Path, days: list[dt.date], *, threads: int = WRITE_THREADS) -> None:
        if not days:
            raise LakeError("no days to write")
        self.lake_dir, self.days = lake_dir, sorted(set(days))
        self.windows: list[StagedWindow] = []
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lake-write")
        self._pending: list[tuple[StagedWindow, Path, Future[Path]]] = []

    def stage(self, table: str, data: pa.Table, time_column: str, schema: pa.Schema | None = None,
              sort_by: list[str] | None = None) -> StagedWindow:
        """Cast to `schema`, split by UTC day (each day ordered by `sort_by`), refuse to drop rows, and
        queue each day's file.

        Every requested day gets a file, so "ingested, nothing happened" (an empty file with the schema)
        differs from "never ingested". Each day's rows are gathered by the writing thread, from the one
        table: nothing but the day in hand is copied.
        """
        if schema is not None:
            data = data.select(schema.names).cast(schema)
        if data.num_rows:
            order, ranges = _day_ranges(data, time_column, self.days, sort_by)
        else:
            order, ranges = None, {d: (0, 0) for d in self.days}
        placed = sum(hi - lo for lo, hi in ranges.values())
        if placed != data.num_rows:
            raise LakeError(
                f"{table}: {data.num_rows - placed} of {data.num_rows} rows fall outside the run's days "
                f"{self.days[0]}..{self.days[-1]}; refusing to drop them"
            )
        window = StagedWindow(table, data.num_rows, {d: hi - lo for d, (lo, hi) in ranges.items()})
        self.windows.append(window)
        rows = _Rows(data)
        for day, (lo, hi) in ranges.items():
            final = partition_path(self.lake_dir, table, day)
            self._pending.append((window, final, self._pool.submit(_write_part, final, rows, order, lo, hi)))
        return window

    def adopt(self, window: StagedWindow) -> StagedWindow:
        """Take over a window staged elsewhere (e.g. by a worker process): committed or discarded with the rest."""
        self.windows.append(window)
        return window

    def _wait(self) -> BaseException | None:
        """Wait for every queued write; record the written files; return the first failure."""
        first: BaseException | None = None
        for window, final, fut in self._pending:
            exc = fut.exception()
            if exc is None:
                window.files.append((fut.result(), final))
            elif first is None:
                first = exc
        self._pending = []
        return first

    def wait(self) -> list[StagedWindow]:
        """Wait until every staged file is written (not committed); a failed write discards all and raises."""
        failure = self._wait()
        if failure is not None:
            self.discard()
            raise failure
        return self.windows

    def commit(self) -> list[StagedWindow]:
        self.wait()
        try:
            commit(self.windows, pool=self._pool)
        except BaseException:
            self.discard()
            raise
        finally:
            self._pool.shutdown()
        return self.windows

    def discard(self) -> None:
        self._wait()
        discard(self.windows)
        self._pool.shutdown()

    def __enter__(self) -> LakeStager:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def stage_window(lake_dir: Path, table: str, data: pa.Table, time_column: str, days: list[dt.date],
                 schema: pa.Schema | None = None, *, threads: int = WRITE_THREADS) -> StagedWindow:
    """One table staged and written, not yet committed: LakeError before any write when rows do not fit
    `days`; a failed write removes what was staged."""
    stager = LakeStager(lake_dir, days, threads=threads)
    try:
        window = stager.stage(table, data, time_column, schema)
        stager.wait()
    except BaseException:
        stager.discard()
        raise
    stager._pool.shutdown()
    return window


def commit(staged: Iterable[StagedWindow], *, pool: ThreadPoolExecutor | None = None) -> None:
    """Make staged day files durable, then visible: one rename per day, each atomic.

    Renames run on a thread pool too: replacing a file whose data was just flushed waits on the
    filesystem journal (about 2 ms each on ext4 here), and those waits overlap.
    """
    windows = list(staged)
    moves = [m for w in windows for m in w.files]
    _make_durable([tmp for tmp, _ in moves], pool)
    if len(moves) > 1:
        with contextlib.ExitStack() as stack:
            if pool is None:
                pool = stack.enter_context(ThreadPoolExecutor(max_workers=WRITE_THREADS))
            list(pool.map(lambda m: os.replace(*m), moves))
    elif moves:
        os.replace(*moves[0])
    for window in windows:
        window.files = []


def discard(staged: Iterable[StagedWindow]) -> None:
    """Remove staged files that were never committed (the old partitions stay as they were)."""
    for window in staged:
        for tmp, _final in window.files:
            tmp.unlink(missing_ok=True)
        window.files = []


def write_window(lake_dir: Path, table: str, data: pa.Table, time_column: str, days: list[dt.date],
                 schema: pa.Schema | None = None) -> StagedWindow:
    """Stage and commit one table's window: the whole of a one-table write (e.g. `cashbook stripe-pull`)."""
    with LakeStager(lake_dir, days) as stager:
        window = stager.stage(table, data, time_column, schema)
    return window


def existing_days(lake_dir: Path, table: str) -> list[dt.date]:
    base = lake_dir / table
    if not base.exists():
        return []
    days = []
    for p in base.iterdir():
        if p.name.startswith("day=") and (p / "data.parquet").exists():
            days.append(dt.date.fromisoformat(p.name[4:]))
    return sorted(days)
