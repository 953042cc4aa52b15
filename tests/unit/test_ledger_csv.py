"""Ledger CSV reader (Contract 2): exact header, strict parsing, fail loudly or quarantine."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from cashbook.sources.errors import SourceError
from cashbook.sources.ledger_csv import HEADER, LEDGER_SCHEMA, read_ledger_csv

GOOD = [
    ["L1", "2026-03-10T23:59:59+02:00", "payment", "49.00", "USD", "ch_1", "cus_1", "Pro plan"],
    ["L2", "2026-03-11T00:00:03Z", "refund", "-12.50", "usd", "re_1", "cus_1", ""],
    ["L3", "2026-03-11T10:00:00+00:00", "payment", "4900", "jpy", "", "", "yen, with comma"],
    ["L4", "2026-03-11T10:00:00-05:00", "credit_purchase", "1.234", "KWD", "pi_9", "cus_2", "3 decimals"],
]


def write(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_parses_good_rows(tmp_path: Path) -> None:
    table = read_ledger_csv(write(tmp_path / "l.csv", GOOD))
    assert table.schema == LEDGER_SCHEMA
    rows = table.to_pylist()
    assert [r["amount"] for r in rows] == [4900, -1250, 4900, 1234]
    assert [r["currency"] for r in rows] == ["usd", "usd", "jpy", "kwd"]
    assert rows[0]["occurred_at"] == dt.datetime(2026, 3, 10, 21, 59, 59, tzinfo=dt.UTC)
    assert rows[3]["occurred_at"] == dt.datetime(2026, 3, 11, 15, 0, tzinfo=dt.UTC)
    assert rows[2]["stripe_id"] is None and rows[2]["customer_id"] is None
    assert rows[2]["description"] == "yen, with comma"
    assert [r["source"] for r in rows] == ["csv:l.csv:2", "csv:l.csv:3", "csv:l.csv:4", "csv:l.csv:5"]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (["L9", "2026-03-10T10:00:00", "payment", "1.00", "usd", "", "", ""], "no UTC offset"),
        (["L9", "yesterday", "payment", "1.00", "usd", "", "", ""], "not an ISO 8601"),
        (["L9", "2026-03-10T10:00:00Z", "payment", "1.005", "usd", "", "", ""], "more than 2 decimals"),
        (["L9", "2026-03-10T10:00:00Z", "payment", "49.5", "jpy", "", "", ""], "more than 0 decimals"),
        (["L9", "2026-03-10T10:00:00Z", "payment", "1,00", "usd", "", "", ""], "not a decimal"),
        (["L9", "2026-03-10T10:00:00Z", "payment", "1.00", "usdx", "", "", ""], "unknown currency"),
        (["L9", "2026-03-10T10:00:00Z", "payment", "1.00", "usd", "txn_1", "", ""], "must start with"),
        (["", "2026-03-10T10:00:00Z", "payment", "1.00", "usd", "", "", ""], "entry_id is empty"),
        (["L9", "2026-03-10T10:00:00Z", "payment", "1.00", "usd", ""], "expected 8 fields, got 6"),
        (["L1", "2026-03-10T10:00:00Z", "payment", "1.00", "usd", "", "", ""], "duplicate entry_id 'L1'"),
    ],
)
def test_bad_row_fails_with_file_and_line(tmp_path: Path, row: list[str], reason: str) -> None:
    path = write(tmp_path / "l.csv", [GOOD[0], row])
    with pytest.raises(SourceError) as err:
        read_ledger_csv(path)
    assert err.value.where == f"{path}:3"
    assert reason in err.value.reason


def test_quarantine_writes_rejects_and_keeps_good_rows(tmp_path: Path) -> None:
    bad = ["LX", "2026-03-10T10:00:00", "payment", "1.00", "usd", "", "", "no offset"]
    path = write(tmp_path / "l.csv", [GOOD[0], bad, GOOD[1]])
    rejects = tmp_path / "q" / "rejects.csv"
    table = read_ledger_csv(path, rejects=rejects)
    assert table.column("entry_id").to_pylist() == ["L1", "L2"]
    with rejects.open(newline="") as fh:
        got = list(csv.reader(fh))
    assert got[0] == [*HEADER, "line", "reason"]
    assert got[1][:8] == bad and got[1][8] == "3" and "no UTC offset" in got[1][9]


def test_header_must_match_exactly_even_in_quarantine(tmp_path: Path) -> None:
    header = [*HEADER[:-1], "memo"]
    path = write(tmp_path / "l.csv", GOOD, header=header)
    with pytest.raises(SourceError) as err:
        read_ledger_csv(path, rejects=tmp_path / "r.csv")
    assert err.value.where == f"{path}:1" and "header" in err.value.reason


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        read_ledger_csv(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(SourceError, match="empty"):
        read_ledger_csv(tmp_path / "empty.csv")


def test_line_numbers_count_multiline_quoted_fields(tmp_path: Path) -> None:
    first = ["L1", "2026-03-10T10:00:00Z", "payment", "1.00", "usd", "", "", "two\nlines"]
    bad = ["L2", "2026-03-10T10:00:00Z", "payment", "x", "usd", "", "", ""]
    path = write(tmp_path / "l.csv", [first, bad])
    with pytest.raises(SourceError) as err:
        read_ledger_csv(path)
    assert err.value.where == f"{path}:4"
