"""Read a ledger CSV file (DESIGN.md Contract 2) into the raw `ledger_entries` Arrow schema.

Every row is validated; nothing is coerced. A bad row fails the load with `file:line: reason`, or,
when a rejects path is given (quarantine mode), is written there with its reason while the good
rows load. A bad header always fails: without it no row can be read with confidence.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path
from typing import Any

import pyarrow as pa

from cashbook.money import MoneyError, normalize_currency, to_minor
from cashbook.sources.errors import SourceError
from cashbook.sources.streams import LEDGER_SCHEMA

HEADER = ["entry_id", "occurred_at", "type", "amount", "currency", "stripe_id", "customer_id", "description"]
STRIPE_ID_PREFIXES = ("ch_", "py_", "pi_", "re_", "dp_", "in_")

__all__ = ["HEADER", "LEDGER_SCHEMA", "STRIPE_ID_PREFIXES", "read_ledger_csv"]



class _BadRow(Exception):
    """A row-level problem; carries only the reason (the caller knows file and line)."""


def _parse_time(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise _BadRow(f"occurred_at {text!r} is not an ISO 8601 timestamp") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise _BadRow(f"occurred_at {text!r} has no UTC offset (required, e.g. +00:00 or Z)")
    return value.astimezone(dt.UTC)


def _parse_row(fields: list[str], source: str) -> dict[str, Any]:
    if len(fields) != len(HEADER):
        raise _BadRow(f"expected {len(HEADER)} fields, got {len(fields)}")
    rec = dict(zip(HEADER, fields, strict=True))
    entry_id = rec["entry_id"].strip()
    if not entry_id:
        raise _BadRow("entry_id is empty")
    if not rec["type"].strip():
        raise _BadRow("type is empty")
    try:
        currency = normalize_currency(rec["currency"])
        amount = to_minor(rec["amount"], currency)
    except MoneyError as exc:
        raise _BadRow(str(exc)) from None
    stripe_id = rec["stripe_id"].strip() or None
    if stripe_id is not None and not stripe_id.startswith(STRIPE_ID_PREFIXES):
        raise _BadRow(f"stripe_id {stripe_id!r} must start with one of {', '.join(STRIPE_ID_PREFIXES)}")
    return {
        "entry_id": entry_id,
        "occurred_at": _parse_time(rec["occurred_at"]),
        "type": rec["type"].strip(),
        "amount": amount,
        "currency": currency,
        "stripe_id": stripe_id,
        "customer_id": rec["customer_id"].strip() or None,
        "description": rec["description"],
        "source": source,
    }


def read_ledger_csv(path: Path, *, rejects: Path | None = None) -> pa.Table:
    """Parse and validate `path`; see the module docstring for the failure/quarantine policy.

    Duplicate `entry_id`s are bad rows too: the id is the entry's identity in discrepancies.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(str(path), "ledger CSV file not found")
    rows: list[dict[str, Any]] = []
    bad: list[tuple[int, list[str], str]] = []
    seen: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise SourceError(f"{path}:1", f"unreadable header: {exc}") from None
        if header is None:
            raise SourceError(f"{path}:1", "file is empty; expected header " + ",".join(HEADER))
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        if [h.strip() for h in header] != HEADER:
            raise SourceError(f"{path}:1", f"header must be exactly {','.join(HEADER)}; got {','.join(header)}")
        line = reader.line_num + 1
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise SourceError(f"{path}:{line}", f"malformed CSV: {exc}") from None
            start, line = line, reader.line_num + 1
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # a blank line; a row of empty fields is a bad row, reported below
            try:
                row = _parse_row(fields, f"csv:{path.name}:{start}")
                first = seen.get(row["entry_id"])
                if first is not None:
                    raise _BadRow(f"duplicate entry_id {row['entry_id']!r} (first at line {first})")
            except _BadRow as exc:
                if rejects is None:
                    raise SourceError(f"{path}:{start}", str(exc)) from None
                bad.append((start, fields, str(exc)))
                continue
            seen[row["entry_id"]] = start
            rows.append(row)
    if rejects is not None:
        _write_rejects(Path(rejects), bad)
    return pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA)


def _write_rejects(path: Path, bad: list[tuple[int, list[str], str]]) -> None:
    """The rejects file keeps the original fields (padded/truncated to the header) plus line and reason.

    Written to a temporary file and renamed, so a reader never sees half a rejects file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow([*HEADER, "line", "reason"])
        for line, fields, reason in bad:
            padded = (fields + [""] * len(HEADER))[: len(HEADER)]
            w.writerow([*padded, line, reason])
    os.replace(tmp, path)
