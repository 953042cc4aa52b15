"""Read one stream of a Stripe export directory (DESIGN.md Contract 1) into an Arrow table.

The file is read line by line and converted to Arrow in fixed-size batches, so a 10M-line file never
exists as 10M Python dicts at once: peak memory is one batch of dicts plus the Arrow columns. Rows go
through `cashbook.sources.streams.to_row`, the same code the API source uses, and the result has the
same deterministic order as `to_table` (created, id), so both sources land identical partitions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from cashbook.sources.errors import SourceError
from cashbook.sources.streams import STRIPE_STREAMS, membership_row, schema_for, to_row

BATCH_ROWS = 10_000


def stream_path(export_dir: Path, stream: str) -> Path:
    return Path(export_dir) / f"{stream}.jsonl"


def _objects(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed JSON) for each non-blank line; malformed JSON names file:line."""
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield lineno, orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise SourceError(f"{path}:{lineno}", f"malformed JSON: {exc}") from None


def _require(path: Path) -> None:
    if not path.is_file():
        raise SourceError(str(path), "required stream file is missing from the export directory")


def payout_created_map(export_dir: Path) -> dict[str, int]:
    """payout id → created, needed to partition the membership stream by the payout's day."""
    path = stream_path(export_dir, "payouts")
    _require(path)
    out: dict[str, int] = {}
    for lineno, obj in _objects(path):
        row = to_row("payouts", obj, where=f"{path}:{lineno}")
        out[row["id"]] = row["created"]
    return out


def _sort_keys(stream: str) -> list[tuple[str, str]]:
    if stream == "payout_balance_transactions":
        cols = ["payout_created", "payout", "balance_transaction"]
    else:
        cols = ["created", "id"]
    return [(c, "ascending") for c in cols]


def iter_stream_batches(export_dir: Path, stream: str, *, payout_created: dict[str, int] | None = None,
                        batch_rows: int | None = None) -> Iterator[pa.RecordBatch]:
    """Validated rows of `<stream>.jsonl` as Arrow batches, in file order (not sorted).

    For callers that split a big stream anyway (e.g. by UTC day) and sort each part themselves: memory is
    one batch, not the whole stream.
    """
    if stream not in STRIPE_STREAMS:
        raise ValueError(f"unknown stream {stream!r}; known: {', '.join(STRIPE_STREAMS)}")
    path = stream_path(export_dir, stream)
    _require(path)
    schema = schema_for(stream)
    size = batch_rows or BATCH_ROWS
    membership = stream == "payout_balance_transactions"
    if membership and payout_created is None:
        payout_created = payout_created_map(export_dir)
    rows: list[dict[str, Any]] = []
    for lineno, obj in _objects(path):
        where = f"{path}:{lineno}"
        if membership:
            assert payout_created is not None
            rows.append(membership_row(obj, where, payout_created))
        else:
            rows.append(to_row(stream, obj, where=where))
        if len(rows) >= size:
            yield pa.RecordBatch.from_pylist(rows, schema=schema)
            rows = []
    if rows:
        yield pa.RecordBatch.from_pylist(rows, schema=schema)


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
    if table.num_rows > 1:
        keys = _sort_keys(stream)
        order = pc.sort_indices(table.select([k for k, _ in keys]), sort_keys=keys)
        if not pc.all(pc.equal(order, pa.array(range(table.num_rows), type=order.type))).as_py():
            table = table.take(order)
    return table
