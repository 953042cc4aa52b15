"""Read one stream of a Stripe export directory (DESIGN.md Contract 1) into an Arrow table.

The file is read line by line and converted to Arrow in fixed-size batches, so a 10M-line file never
exists as 10M Python dicts at once: peak memory is one batch of lines plus the Arrow columns. Batches go
through `cashbook.sources.streams.lines_to_batch` (a fast path that falls back to `to_row`, the same code
the API source uses) with the garbage collector paused (`gc_paused`), and the result has the same
deterministic order as `to_table` (created, id), so both sources land identical partitions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from cashbook.sources.errors import SourceError
from cashbook.sources.registry import STRIPE_STREAMS
from cashbook.sources.streams import (
    gc_paused,
    lines_to_batch,
    membership_lines_to_batch,
    schema_for,
    sort_table,
    time_column,
)

BATCH_ROWS = 10_000
# A window's rows are kept in chunks of about this many rows, not in the 10,000-row batches they are parsed in.
# The lake writer gathers each day with one take per chunk that holds some of its rows (`cashbook.lake._Rows`),
# and an export is not in day order, so fewer, larger chunks mean fewer takes. Measured on a million-BT account:
# staging all nine streams went from 131 to 120-122 CPU s (the balance transactions' gather alone from 4.9 to
# 4.4 s). Concatenating costs one copy of a chunk at a time, not of the window, so peak memory barely moves.
COMPACT_ROWS = 100_000


def stream_path(export_dir: Path, stream: str) -> Path:
    return Path(export_dir) / f"{stream}.jsonl"


def _chunks(fh: BinaryIO, size: int) -> Iterator[tuple[list[bytes], Callable[[int], int]]]:
    """The non-blank lines, `size` lines of the file at a time, with each kept line's 1-based line number.

    Lines are taken in C (`islice`) and numbered only when a chunk has blank lines: numbering every line
    in Python took about a sixth as many profile samples as parsing them.
    """
    first = 1
    while lines := list(islice(fh, size)):
        start = first
        first += len(lines)
        if any(map(bytes.isspace, lines)):
            numbers = [start + i for i, line in enumerate(lines) if not line.isspace()]
            lines = [line for line in lines if not line.isspace()]
            if lines:
                yield lines, numbers.__getitem__
        else:
            yield lines, lambda i, start=start: start + i


def _require(path: Path) -> None:
    if not path.is_file():
        raise SourceError(str(path), "required stream file is missing from the export directory")


def payout_created_map(export_dir: Path) -> dict[str, int]:
    """payout id → created, needed to partition the membership stream by the payout's day."""
    out: dict[str, int] = {}
    for batch in iter_stream_batches(export_dir, "payouts"):
        out.update(zip(batch.column("id").to_pylist(), batch.column("created").to_pylist(), strict=True))
    return out


def iter_stream_batches(export_dir: Path, stream: str, *, payout_created: dict[str, int] | None = None,
                        batch_rows: int | None = None) -> Iterator[pa.RecordBatch]:
    """Validated rows of `<stream>.jsonl` as Arrow batches, in file order (not sorted).

    For callers that split a big stream anyway (e.g. by UTC day) and sort each part themselves: memory is
    one batch, not the whole stream. The first bad line in file order is the one reported.
    """
    if stream not in STRIPE_STREAMS:
        raise ValueError(f"unknown stream {stream!r}; known: {', '.join(STRIPE_STREAMS)}")
    path = stream_path(export_dir, stream)
    _require(path)
    size = batch_rows or BATCH_ROWS
    membership = stream == "payout_balance_transactions"
    if membership and payout_created is None:
        payout_created = payout_created_map(export_dir)
    with path.open("rb") as fh:
        for lines, lineno in _chunks(fh, size):

            def where(i: int, lineno: Callable[[int], int] = lineno) -> str:
                return f"{path}:{lineno(i)}"

            with gc_paused():
                if membership:
                    assert payout_created is not None
                    batch = membership_lines_to_batch(lines, where, payout_created)
                else:
                    batch = lines_to_batch(stream, lines, where)
            yield batch


def read_export(export_dir: Path) -> dict[str, pa.Table]:
    """Every Stripe stream of an export directory, keyed by its raw lake table (`stripe_<stream>`): what
    `cashbook report --stripe` and the mart tests register as `raw.*` when there is no lake."""
    return {f"stripe_{s}": read_stream(export_dir, s) for s in STRIPE_STREAMS}


def read_stream(export_dir: Path, stream: str, *, payout_created: dict[str, int] | None = None) -> pa.Table:
    """Read `<stream>.jsonl` into a table with `schema_for(stream)`, sorted like `to_table`.

    A missing required file is a SourceError naming it; any bad line is a SourceError naming
    file:line. `payout_created` may be passed for the membership stream to avoid re-reading payouts.
    The sort order is computed on the key columns only, and rows are reordered only when the file is
    not already in that order, so peak memory stays near twice the table at worst (the rows carry `_raw`,
    so the table itself is roughly the size of the file).
    """
    if stream not in STRIPE_STREAMS:
        raise ValueError(f"unknown stream {stream!r}; known: {', '.join(STRIPE_STREAMS)}")
    schema = schema_for(stream)
    table = pa.Table.from_batches(
        list(iter_stream_batches(export_dir, stream, payout_created=payout_created)), schema=schema)
    return sort_table(stream, table)


def read_window(export_dir: Path, stream: str, start: int, end: int, *, sort: bool = True) -> pa.Table:
    """The stream's rows with start <= created < end (memberships: by their payout's created).

    Every line is still validated (a bad line anywhere stops the read with file:line), but only the
    window's rows are kept, so memory follows the window, not the file. Sorted like `to_table` unless
    `sort=False` (the lake stager orders each day itself without copying the whole window).
    """
    column = time_column(stream)
    schema = schema_for(stream)
    kept: list[pa.RecordBatch] = []
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in iter_stream_batches(Path(export_dir), stream):
        col = batch.column(column)
        pending.append(batch.filter(pc.and_(pc.greater_equal(col, start), pc.less(col, end))))
        pending_rows += pending[-1].num_rows
        if pending_rows >= COMPACT_ROWS:
            kept.extend(_compact(pending, schema))
            pending, pending_rows = [], 0
    kept.extend(_compact(pending, schema))
    table = pa.Table.from_batches(kept, schema=schema)
    return sort_table(stream, table) if sort else table


def _compact(batches: list[pa.RecordBatch], schema: pa.Schema) -> list[pa.RecordBatch]:
    """The batches as one (while its columns fit one array): see COMPACT_ROWS."""
    if len(batches) < 2:
        return batches
    return pa.Table.from_batches(batches, schema=schema).combine_chunks().to_batches()


class ExportReader:
    """A `StripeReader` over an export directory: each read validates the whole file, keeps the window."""

    def __init__(self, export_dir: Path) -> None:
        self.export_dir = Path(export_dir)

    def read_range(self, stream: str, start: dt.datetime, end: dt.datetime) -> pa.Table:
        return read_window(self.export_dir, stream, int(start.timestamp()), int(end.timestamp()))

    def metadata(self) -> dict[str, Any]:
        return {"source": "export", "export_dir": str(self.export_dir)}
