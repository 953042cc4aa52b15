"""Export directory reader (Contract 1): same rows as `to_table`, file:line errors, batched conversion."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cashbook.sources import export
from cashbook.sources.errors import SourceError
from cashbook.sources.export import read_stream
from cashbook.sources.streams import to_row, to_table


def bt(i: int, created: int) -> dict[str, object]:
    return {"id": f"txn_{i:05d}", "object": "balance_transaction", "amount": 100 + i, "fee": 3, "net": 97 + i,
            "currency": "usd", "created": created, "type": "charge", "reporting_category": "charge",
            "source": {"id": f"ch_{i}", "object": "charge"}, "status": "available", "new_field": [i]}


def write_jsonl(path: Path, objs: list[object]) -> None:
    path.write_bytes(b"".join(orjson.dumps(o) + b"\n" for o in objs))


def test_matches_to_table_across_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "BATCH_ROWS", 7)
    objs = [bt(i, 1_700_000_000 + (i * 37) % 11) for i in range(40)]
    write_jsonl(tmp_path / "balance_transactions.jsonl", objs)
    got = read_stream(tmp_path, "balance_transactions")
    want = to_table("balance_transactions", [to_row("balance_transactions", o, "x") for o in objs])
    assert got.equals(want)
    assert got.column("source").to_pylist()[0].startswith("ch_")
    assert b"new_field" in got.column("_raw")[0].as_py().encode()


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "charges.jsonl"
    path.write_text('{"id": "ch_1"\n')
    with pytest.raises(SourceError) as err:
        read_stream(tmp_path, "charges")
    assert err.value.where == f"{path}:1" and "malformed JSON" in err.value.reason


def test_invalid_object_names_line(tmp_path: Path) -> None:
    good, bad = bt(1, 1), bt(2, 2)
    del bad["amount"]
    write_jsonl(tmp_path / "balance_transactions.jsonl", [good, bad])
    with pytest.raises(SourceError) as err:
        read_stream(tmp_path, "balance_transactions")
    assert err.value.where.endswith("balance_transactions.jsonl:2") and "amount" in err.value.reason


def test_blank_lines_are_skipped_and_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blank lines land no row but still count, in every chunk: the error names the file's own line number."""
    monkeypatch.setattr(export, "BATCH_ROWS", 3)
    objs = [bt(i, 1_700_000_000 + i) for i in range(6)]
    lines = [orjson.dumps(o).decode() for o in objs]
    body = [lines[0], "", "  ", lines[1], lines[2], "", lines[3], lines[4], lines[5], ""]
    path = tmp_path / "balance_transactions.jsonl"
    path.write_text("\n".join(body) + "\n")
    got = read_stream(tmp_path, "balance_transactions")
    assert got.column("id").to_pylist() == [o["id"] for o in objs]
    body[7] = '{"id": "txn_bad", "created": 1, "amount": 1.5}'  # line 8, in the third chunk
    path.write_text("\n".join(body) + "\n")
    with pytest.raises(SourceError) as err:
        read_stream(tmp_path, "balance_transactions")
    assert err.value.where == f"{path}:8"


def test_missing_required_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as err:
        read_stream(tmp_path, "refunds")
    assert err.value.where == str(tmp_path / "refunds.jsonl")


def test_empty_file_gives_empty_table(tmp_path: Path) -> None:
    (tmp_path / "disputes.jsonl").write_text("\n")
    assert read_stream(tmp_path, "disputes").num_rows == 0


def test_membership_uses_payout_created(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "payouts.jsonl", [
        {"id": "po_2", "amount": 5, "currency": "usd", "created": 20},
        {"id": "po_1", "amount": 5, "currency": "usd", "created": 10},
    ])
    write_jsonl(tmp_path / "payout_balance_transactions.jsonl", [
        {"payout": "po_2", "balance_transaction": "txn_b"},
        {"payout": "po_1", "balance_transaction": "txn_a"},
    ])
    got = read_stream(tmp_path, "payout_balance_transactions").to_pylist()
    assert got == [{"payout": "po_1", "balance_transaction": "txn_a", "payout_created": 10},
                   {"payout": "po_2", "balance_transaction": "txn_b", "payout_created": 20}]
    write_jsonl(tmp_path / "payout_balance_transactions.jsonl", [{"payout": "po_x", "balance_transaction": "t"}])
    with pytest.raises(SourceError, match="po_x"):
        read_stream(tmp_path, "payout_balance_transactions")


def test_unknown_stream_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown stream"):
        read_stream(tmp_path, "events")


def test_iter_stream_batches_keeps_file_order_in_bounded_batches(tmp_path: Path) -> None:
    objs = [bt(i, 1_000 - i) for i in range(25)]
    write_jsonl(tmp_path / "balance_transactions.jsonl", objs)
    batches = list(export.iter_stream_batches(tmp_path, "balance_transactions", batch_rows=10))
    assert [b.num_rows for b in batches] == [10, 10, 5]
    ids = [i for b in batches for i in b.column("id").to_pylist()]
    assert ids == [o["id"] for o in objs]
    assert read_stream(tmp_path, "balance_transactions").column("id").to_pylist() == ids[::-1]
