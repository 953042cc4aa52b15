"""The vectorized ledger reader accepts exactly what the row reader accepts, with the same values, and leaves
everything else (and every error message) to the row reader."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from cashbook.sources import ledger_csv
from cashbook.sources.errors import SourceError
from cashbook.sources.ledger_csv import HEADER, read_ledger_csv

HEAD = ",".join(HEADER)
GOOD = [
    "L1,2026-03-10T23:59:59+02:00,payment,49.00,USD,ch_1,cus_1,Pro plan",
    "L2,2026-03-11T00:00:03Z,refund,-12.50,usd,re_1,cus_1,",
    "L3,2026-03-11T10:00:00+00:00,payment,4900,jpy,,,yen",
    "L4,2026-03-11T10:00:00.25-05:30,credit_purchase,1.234,KWD,pi_9,cus_2,3 decimals",
    "L5,2026-03-11T10:00:00.123456+00:00,payment,+7.10,eur,in_1,cus_3, spaces kept in description ",
    "L6,1999-12-31T23:59:59-23:59,dispute,-4900.000,jpy,dp_1,,trailing zeros beyond the exponent",
    "L7,2026-03-11T10:00:00+00:00,manual_adjustment,0,usd,,cus_9,",
]


def _write(tmp_path: Path, lines: list[str], *, end: str = "\n") -> Path:
    path = tmp_path / "ledger.csv"
    path.write_bytes((end.join([HEAD, *lines]) + end).encode())
    return path


def _outcome(fn, path: Path) -> tuple[str, object]:
    try:
        return "table", fn(path)
    except SourceError as exc:
        return "error", (exc.where, exc.reason)


def _rows(path: Path) -> pa.Table:
    return ledger_csv._read_rows(path, None)


def test_fast_reader_takes_clean_files_and_equals_the_row_reader(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    fast = ledger_csv._read_fast(path)
    assert fast is not None
    assert fast.equals(_rows(path))
    assert fast.column("amount").to_pylist() == [4900, -1250, 4900, 1234, 710, -4900, 0]
    no_final_newline = tmp_path / "n.csv"
    no_final_newline.write_text("\n".join([HEAD, *GOOD]))
    assert ledger_csv._read_fast(no_final_newline).equals(_rows(no_final_newline))


VARIANTS = {
    "no offset": "L9,2026-03-10T10:00:00,payment,1.00,usd,,,",
    "not a time": "L9,yesterday,payment,1.00,usd,,,",
    "space date separator": "L9,2026-03-10 10:00:00+00:00,payment,1.00,usd,,,",
    "compact offset": "L9,2026-03-10T10:00:00+0530,payment,1.00,usd,,,",
    "feb 29 in 2025": "L9,2025-02-29T10:00:00Z,payment,1.00,usd,,,",
    "seven fraction digits": "L9,2026-03-10T10:00:00.1234567Z,payment,1.00,usd,,,",
    "year 0999": "L9,0999-03-10T10:00:00Z,payment,1.00,usd,,,",
    "three decimals in usd": "L9,2026-03-10T10:00:00Z,payment,1.005,usd,,,",
    "decimals in jpy": "L9,2026-03-10T10:00:00Z,payment,49.5,jpy,,,",
    "comma decimal": "L9,2026-03-10T10:00:00Z,payment,\"1,00\",usd,,,",
    "non-ascii digits": "L9,2026-03-10T10:00:00Z,payment,\u0661.00,usd,,,",
    "huge amount": "L9,2026-03-10T10:00:00Z,payment,12345678901234567890,usd,,,",
    "bare point": "L9,2026-03-10T10:00:00Z,payment,1.,usd,,,",
    "unknown currency": "L9,2026-03-10T10:00:00Z,payment,1.00,usdx,,,",
    "currency with spaces": "L9,2026-03-10T10:00:00Z,payment,1.00, usd ,,,",
    "bad stripe id": "L9,2026-03-10T10:00:00Z,payment,1.00,usd,txn_1,,",
    "empty entry id": ",2026-03-10T10:00:00Z,payment,1.00,usd,,,",
    "spaces around entry id": " L9 ,2026-03-10T10:00:00Z,payment,1.00,usd,,,",
    "empty type": "L9,2026-03-10T10:00:00Z,,1.00,usd,,,",
    "too few fields": "L9,2026-03-10T10:00:00Z,payment,1.00,usd,",
    "too many fields": "L9,2026-03-10T10:00:00Z,payment,1.00,usd,,,,x",
    "duplicate id": "L1,2026-03-10T10:00:00Z,payment,1.00,usd,,,",
    "quoted description": "L9,2026-03-10T10:00:00Z,payment,1.00,usd,,,\"two\nlines\"",
    "blank line": "",
    "fields all empty": ",,,,,,,",
}


@pytest.mark.parametrize("name", VARIANTS)
def test_anything_unusual_gets_the_row_readers_answer(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, [*GOOD[:2], VARIANTS[name], GOOD[2]])
    kind, got = _outcome(read_ledger_csv, path)
    want_kind, want = _outcome(_rows, path)
    assert kind == want_kind
    assert got.equals(want) if kind == "table" else got == want


def test_crlf_bom_and_quarantine_keep_their_behaviour(tmp_path: Path) -> None:
    crlf = _write(tmp_path, GOOD, end="\r\n")
    assert ledger_csv._read_fast(crlf) is None and read_ledger_csv(crlf).equals(_rows(crlf))
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + "\n".join([HEAD, *GOOD]).encode())
    assert read_ledger_csv(bom).equals(_rows(bom))
    clean = _write(tmp_path, GOOD)
    rejects = tmp_path / "q" / "r.csv"
    assert read_ledger_csv(clean, rejects=rejects).num_rows == len(GOOD)
    assert rejects.read_text().splitlines() == [",".join([*HEADER, "line", "reason"])]
