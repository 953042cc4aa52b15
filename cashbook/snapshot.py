"""Publish the analysts' DuckDB file: a whole copy of the build file, swapped in with one rename.

Why a copy and a rename (docs/architecture.md, "DuckDB warehouse"): DuckDB lets one process write a file, and
a writer cannot open a file another process has open read-only (and the other way round). If analysts opened
the file the pipeline writes, an hour-long analyst session would stall every run, and a run would make the
analysts' opens fail. Instead the pipeline writes its private build file, and this module

1. copies it (`COPY FROM DATABASE`: every schema, table and view) into a new file next to the published one,
   plus `meta.snapshot` saying when and by which run it was published,
2. closes it (DuckDB checkpoints: no WAL left), fsyncs it, and
3. renames it over `$CASHBOOK_HOME/warehouse.duckdb` (atomic on POSIX file systems), then fsyncs the directory.

A session opened before the rename keeps reading the file it opened (the old inode stays alive while it is
open), so it never sees a half-built mart and never meets a lock; the next open gets the new file. Nobody ever
opens the published file for writing, so there is no lock to conflict with.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb


class SnapshotError(RuntimeError):
    """The build file cannot be published (missing, or the copy failed); the published file is unchanged."""


@dataclass(frozen=True)
class SnapshotInfo:
    path: Path
    published_at: dt.datetime
    tables: int
    views: int
    bytes: int
    seconds: float
    set_aside_wal: Path | None = None  # someone wrote into the published file; their log was moved here


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy(build: Path, tmp: Path, published_at: dt.datetime, run_id: str) -> tuple[int, int]:
    con = duckdb.connect()  # in-memory: the build file is only attached, read-only
    try:
        con.execute(f"ATTACH {_sql_str(str(build))} AS build (READ_ONLY)")
        con.execute(f"ATTACH {_sql_str(str(tmp))} AS snap")
        con.execute("COPY FROM DATABASE build TO snap")
        con.execute("CREATE SCHEMA snap.meta")
        con.execute("CREATE TABLE snap.meta.snapshot (published_at TIMESTAMPTZ, dagster_run_id VARCHAR, "
                    "build_file VARCHAR)")
        con.execute("INSERT INTO snap.meta.snapshot VALUES (?, ?, ?)", [published_at, run_id or None, str(build)])
        row = con.execute(
            "SELECT count(*) FILTER (WHERE table_type = 'BASE TABLE'), count(*) FILTER (WHERE table_type = 'VIEW') "
            "FROM information_schema.tables WHERE table_catalog = 'snap' AND table_schema <> 'meta'").fetchall()[0]
        con.execute("DETACH snap")
    except duckdb.Error as exc:
        raise SnapshotError(f"copying {build} to {tmp.name} failed: {exc}") from exc
    finally:
        con.close()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def publish_snapshot(build: Path, target: Path, *, run_id: str = "") -> SnapshotInfo:
    """Copy `build` to a temporary file beside `target`, then rename it over `target` in one step."""
    if not build.exists():
        raise SnapshotError(f"no build file at {build}: run the warehouse assets first")
    t0 = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    wal = tmp.with_name(tmp.name + ".wal")
    published_at = dt.datetime.now(dt.UTC)
    try:
        tables, views = _copy(build, tmp, published_at, run_id)
        if wal.exists():  # DETACH checkpoints; a WAL left over means the copy is not self-contained
            raise SnapshotError(f"{tmp.name} still has a write-ahead log after closing; not publishing it")
        _fsync(tmp)
        stale = _set_aside_wal(target, published_at)
        os.replace(tmp, target)
        _fsync(target.parent)
    finally:
        for leftover in (tmp, wal):
            if leftover.exists():
                leftover.unlink()
    return SnapshotInfo(target, published_at, tables, views, target.stat().st_size, time.monotonic() - t0, stale)


def _set_aside_wal(target: Path, now: dt.datetime) -> Path | None:
    """A WAL beside the published file belongs to someone who opened it for writing (or to an old layout where
    the pipeline wrote this file). DuckDB would replay it into the new file on the next open, so it is renamed
    out of the way, kept for whoever wants it."""
    wal = target.with_name(target.name + ".wal")
    if not wal.exists():
        return None
    aside = wal.with_name(f"{wal.name}.set-aside-{now:%Y%m%dT%H%M%S}")
    os.replace(wal, aside)
    return aside
