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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from cashbook.money import (
    KNOWN_CURRENCIES,
    THREE_DECIMAL,
    ZERO_DECIMAL,
    MoneyError,
    normalize_currency,
    to_minor,
)
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
    if not -(2**63) <= amount < 2**63:
        raise _BadRow(f"amount {rec['amount']!r} does not fit in 64-bit minor units")
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
    fast = _read_fast(path)
    if fast is not None:
        if rejects is not None:
            _write_rejects(Path(rejects), [])
        return fast
    return _read_rows(path, rejects)


def _read_rows(path: Path, rejects: Path | None) -> pa.Table:
    """The row-by-row reader: every rule checked in Python, exact file:line reasons, quarantine."""
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


# ---- the vectorized reader ---------------------------------------------------------------------------
# A million ledger rows took the row reader ~13 s of CPU. The file is parsed by Arrow instead and every rule
# is checked column-wise; the fast reader only ever accepts a file the row reader would accept row for row
# (same values), and returns None for anything else (quotes, blank lines, BOM, surrounding spaces, a bad
# or duplicate row, an unusual timestamp form...), so the row reader decides and names the bad line.
# Gates are strict on purpose: ASCII digits only (Python's `\d` is wider), four-digit years from 1000, at
# most six fractional digits, offsets within ±23:59: inside them Arrow's ISO 8601 parser and
# `datetime.fromisoformat` agree.

_TIME_RE = (r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
            r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")
_AMOUNT_RE = r"^[+-]?[0-9]{1,15}(\.[0-9]{1,18})?$"
_AMOUNT_PARTS = r"^(?P<sign>[+-]?)(?P<whole>[0-9]{1,15})(?:\.(?P<frac>[0-9]{1,18}))?$"
_TRIMMED = ("entry_id", "occurred_at", "type", "amount", "currency", "stripe_id", "customer_id")
_KNOWN = pa.array(sorted(KNOWN_CURRENCIES), pa.string())
# Arrow parses 1 MiB blocks by default: a million-row ledger came back as 128 chunks, and the lake writer gathers
# each day with one take per chunk holding some of its rows (a ledger is not in day order). 8 MiB blocks still
# parse on every core and give a sixteenth of the chunks (staging a million rows: 5.8 -> 5.5 CPU s).
BLOCK_BYTES = 8 << 20


def _read_fast(path: Path) -> pa.Table | None:
    data = path.read_bytes()
    if not data or b'"' in data or b"\r" in data or data.startswith(b"\xef\xbb\xbf"):
        return None
    end = data.find(b"\n")
    first = data if end < 0 else data[:end]
    if first.decode("utf-8", "replace").split(",") != HEADER:
        return None
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(skip_rows=1, column_names=HEADER, block_size=BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(quote_char=False, double_quote=False, escape_char=False,
                                             newlines_in_values=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in HEADER}, null_values=[],
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    n = table.num_rows
    if n != lines - 1:
        return None  # blank lines or a stray last line: line numbers would not follow row numbers
    if n == 0:
        return LEDGER_SCHEMA.empty_table()
    col = {h: table.column(h) for h in HEADER}
    try:
        return _validated(path, col, n)
    except _Decline:
        return None


class _Decline(Exception):
    """The vectorized reader cannot vouch for the file; the row reader decides."""


def _all(mask: pa.Array) -> bool:
    return bool(pc.all(mask).as_py()) if len(mask) else True


def _validated(path: Path, col: dict[str, pa.ChunkedArray], n: int) -> pa.Table:
    for name in _TRIMMED:
        if not _all(pc.equal(pc.utf8_trim_whitespace(col[name]), col[name])):
            raise _Decline
    if not (_all(pc.greater(pc.utf8_length(col["entry_id"]), 0)) and _all(pc.greater(pc.utf8_length(col["type"]), 0))):
        raise _Decline
    if pc.count_distinct(col["entry_id"]).as_py() != n:
        raise _Decline  # duplicate ids: the row reader names both lines
    currency = pc.utf8_lower(col["currency"])
    if not _all(pc.is_in(currency, value_set=_KNOWN)):
        raise _Decline
    if not (_all(pc.match_substring_regex(col["occurred_at"], _TIME_RE))
            and _all(pc.match_substring_regex(col["amount"], _AMOUNT_RE))):
        raise _Decline
    try:
        occurred = pc.cast(col["occurred_at"], pa.timestamp("us", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise _Decline from None
    stripe_id = col["stripe_id"]
    has_id = pc.greater(pc.utf8_length(stripe_id), 0)
    ok_prefix = pc.starts_with(stripe_id, pattern=STRIPE_ID_PREFIXES[0])
    for prefix in STRIPE_ID_PREFIXES[1:]:
        ok_prefix = pc.or_(ok_prefix, pc.starts_with(stripe_id, pattern=prefix))
    if not _all(pc.or_(pc.invert(has_id), ok_prefix)):
        raise _Decline
    amount = _minor_units(col["amount"], currency)
    empty = pa.scalar("", pa.string())
    return pa.table({
        "entry_id": col["entry_id"],
        "occurred_at": occurred,
        "type": col["type"],
        "amount": amount,
        "currency": currency,
        "stripe_id": pc.if_else(pc.equal(stripe_id, empty), pa.scalar(None, pa.string()), stripe_id),
        "customer_id": pc.if_else(pc.equal(col["customer_id"], empty), pa.scalar(None, pa.string()), col["customer_id"]),
        "description": col["description"],
        "source": pc.binary_join_element_wise(f"csv:{path.name}:", pc.cast(pa.array(np.arange(2, n + 2)), pa.string()),
                                              ""),
    }, schema=LEDGER_SCHEMA)


def _minor_units(amount: pa.ChunkedArray, currency: pa.ChunkedArray) -> pa.Array:
    """`to_minor` column-wise: sign, whole and fraction by regex; extra fraction digits must be zeros."""
    parts = pc.extract_regex(amount, _AMOUNT_PARTS)
    sign = pc.struct_field(parts, "sign").to_numpy(zero_copy_only=False)
    whole = pc.cast(pc.struct_field(parts, "whole"), pa.int64()).to_numpy()
    frac = pc.struct_field(parts, "frac")
    exps = _exponents(currency)
    minor = np.empty(len(amount), dtype=np.int64)
    for exp in (0, 2, 3):
        rows = np.flatnonzero(exps == exp)
        if not len(rows):
            continue
        f = pc.take(frac, pa.array(rows))
        rest = pc.utf8_slice_codeunits(f, exp)
        if not _all(pc.match_substring_regex(rest, "^0*$")):
            raise _Decline  # e.g. 49.005 usd: the row reader names it
        value = whole[rows] * 10**exp
        if exp:
            head = pc.utf8_rpad(pc.utf8_slice_codeunits(f, 0, exp), width=exp, padding="0")
            value = value + pc.cast(head, pa.int64()).to_numpy()
        minor[rows] = value
    minor = np.where(sign == "-", -minor, minor)
    return pa.array(minor, pa.int64())


def _exponents(currency: pa.ChunkedArray) -> np.ndarray:
    """`cashbook.money.exponent` per row."""
    out = np.full(len(currency), 2, dtype=np.int64)
    out[pc.is_in(currency, value_set=pa.array(sorted(ZERO_DECIMAL))).to_numpy(zero_copy_only=False)] = 0
    out[pc.is_in(currency, value_set=pa.array(sorted(THREE_DECIMAL))).to_numpy(zero_copy_only=False)] = 3
    return out


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
