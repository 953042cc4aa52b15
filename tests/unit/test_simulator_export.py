"""The simulated export looks and adds up like a real Stripe account (small sizes, fast)."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from cashbook.money import to_minor
from cashbook.simulator import SimConfig, simulate
from cashbook.simulator.output import LEDGER_HEADER
from cashbook.sources.registry import STREAMS, STRIPE_STREAMS
from cashbook.sources.streams import STREAM_COLUMNS, membership_row, to_row
from tests.fixture_files import stripe_objects

# Each raw stream holding Stripe objects -> the `object` of its rows (Stripe's example object of that type).
STREAM_FIXTURE = {s: STREAMS[s].object for s in STRIPE_STREAMS if STREAMS[s].object}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "small"
    simulate(SimConfig(out=out, customers=60, months=3))
    return out


def test_same_arguments_give_byte_identical_files(small: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    simulate(SimConfig(out=again, customers=60, months=3))
    names = sorted(p.name for p in small.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    assert set(names) >= {f"{s}.jsonl" for s in STRIPE_STREAMS} | {"ledger.csv", "truth.json"}
    for name in names:
        assert (small / name).read_bytes() == (again / name).read_bytes(), name


def test_other_seed_differs(small: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    simulate(SimConfig(out=other, customers=60, months=3, seed=43))
    assert (small / "charges.jsonl").read_bytes() != (other / "charges.jsonl").read_bytes()


def test_objects_have_every_field_real_objects_have(small: Path) -> None:
    real = stripe_objects()
    for stream, name in STREAM_FIXTURE.items():
        objs = _jsonl(small / f"{stream}.jsonl")
        assert objs, stream
        want = set(real[name])
        for o in objs:
            missing = want - set(o)
            assert not missing, (stream, o["id"], sorted(missing))
            assert o["object"] == name
            assert o.get("livemode", False) is False
    inv = _jsonl(small / "invoices.jsonl")[0]
    line_keys = set(real["line_item"]) - {"unit_amount_excluding_tax"}
    assert not line_keys - set(inv["lines"]["data"][0])
    sub = _jsonl(small / "subscriptions.jsonl")[0]
    item = sub["items"]["data"][0]
    assert not set(real["subscription_item"]) - set(item)
    assert not set(real["price"]) - set(item["price"])
    assert item["current_period_end"] == sub["current_period_end"]


def test_every_object_passes_the_stream_readers(small: Path) -> None:
    for stream in STREAM_COLUMNS:
        for n, obj in enumerate(_jsonl(small / f"{stream}.jsonl"), 1):
            to_row(stream, obj, f"{stream}.jsonl:{n}")
    created = {p["id"]: p["created"] for p in _jsonl(small / "payouts.jsonl")}
    for n, obj in enumerate(_jsonl(small / "payout_balance_transactions.jsonl"), 1):
        membership_row(obj, f"payout_balance_transactions.jsonl:{n}", created)


def test_ids_look_like_stripe_ids_and_are_unique(small: Path) -> None:
    prefix = {"balance_transactions": "txn_", "charges": "ch_", "refunds": "re_", "disputes": "dp_",
              "payouts": "po_", "customers": "cus_", "subscriptions": "sub_", "invoices": "in_"}
    for stream, p in prefix.items():
        ids = [o["id"] for o in _jsonl(small / f"{stream}.jsonl")]
        assert all(i.startswith(p) for i in ids), stream
        assert len(ids) == len(set(ids)), stream
    inv = _jsonl(small / "invoices.jsonl")
    assert all(x["id"].startswith("il_") for i in inv for x in i["lines"]["data"])
    sub = _jsonl(small / "subscriptions.jsonl")
    assert all(s["items"]["data"][0]["id"].startswith("si_") for s in sub)
    assert all(s["items"]["data"][0]["price"]["id"].startswith("price_") for s in sub)
    assert all(s["items"]["data"][0]["price"]["product"].startswith("prod_") for s in sub)


def test_balance_transactions_add_up(small: Path) -> None:
    bts = _jsonl(small / "balance_transactions.jsonl")
    charges = {c["id"]: c for c in _jsonl(small / "charges.jsonl")}
    for b in bts:
        assert b["net"] == b["amount"] - b["fee"], b["id"]
        assert sum(f["amount"] for f in b["fee_details"]) == b["fee"], b["id"]
        assert b["currency"] in ("usd", "eur")
        assert isinstance(b["amount"], int)
        if b["reporting_category"] == "refund":
            assert b["amount"] < 0 and b["fee"] <= 0
        if b["reporting_category"] == "dispute":
            assert b["amount"] < 0 and b["fee"] == 1500
        if b["reporting_category"] == "dispute_reversal":
            assert b["amount"] > 0
        if b["reporting_category"] == "charge":
            ch = charges[b["source"]]
            assert ch["balance_transaction"] == b["id"] and ch["status"] == "succeeded"
            if ch["currency"] == "jpy":
                assert b["currency"] == "usd" and b["exchange_rate"] is not None
                assert abs(b["amount"] - ch["amount"] * b["exchange_rate"] * 100) <= 1
            else:
                assert b["amount"] == ch["amount"] and b["exchange_rate"] is None
    for ch in charges.values():
        if ch["status"] == "failed":
            assert ch["balance_transaction"] is None and ch["failure_code"]
        assert isinstance(ch["amount"], int) and ch["amount"] > 0
    assert any(c["currency"] == "jpy" for c in charges.values())
    assert any(c["status"] == "failed" for c in charges.values())


def test_payouts_equal_their_members_except_injected(small: Path) -> None:
    bts = {b["id"]: b for b in _jsonl(small / "balance_transactions.jsonl")}
    members: dict[str, list[str]] = defaultdict(list)
    for row in _jsonl(small / "payout_balance_transactions.jsonl"):
        members[row["payout"]].append(row["balance_transaction"])
    truth = json.loads((small / "truth.json").read_text())
    bad = {d["payout_id"] for d in truth["discrepancies"] if d["kind"] == "payout_mismatch"}
    payouts = _jsonl(small / "payouts.jsonl")
    assert payouts
    for po in payouts:
        own = bts[po["balance_transaction"]]
        assert own["type"] == own["reporting_category"] == "payout" and own["amount"] == -po["amount"]
        assert po["balance_transaction"] in members[po["id"]]
        assert po["automatic"] is True and po["reconciliation_status"] == "completed"
        total = sum(bts[t]["net"] for t in members[po["id"]] if t != po["balance_transaction"])
        assert (total != po["amount"]) == (po["id"] in bad), po["id"]
        for t in members[po["id"]]:
            assert bts[t]["available_on"] <= po["created"]
    seen = [t for ts in members.values() for t in ts]
    assert len(seen) == len(set(seen)), "a balance transaction is paid out once"


def test_ledger_csv_parses_with_contract_header(small: Path) -> None:
    with (small / "ledger.csv").open(newline="") as fh:
        reader = csv.reader(fh)
        assert next(reader) == LEDGER_HEADER
        rows = list(reader)
    assert rows
    offsets = set()
    for r in rows:
        _entry, occurred, typ, amount, cur, sid, _cust, _desc = r
        to_minor(amount, cur)
        if cur.lower() == "jpy":
            assert "." not in amount
        offsets.add(occurred[-6:])
        assert typ in {"payment", "credit_purchase", "refund", "dispute", "dispute_reversal", "manual_adjustment"}
        assert sid == "" or sid.split("_")[0] in {"ch", "pi", "in", "re", "dp"}
    assert len({r[0] for r in rows}) == len(rows)
    assert len(offsets) >= 2 and "+00:00" in offsets


def test_cli_writes_the_export_and_rejects_a_bad_start(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cashbook.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["simulate", "--out", str(tmp_path / "cli"), "--customers", "20", "--months", "2",
                              "--seed", "9", "--start", "2024-03-01"])
    assert res.exit_code == 0, res.output
    truth = json.loads((tmp_path / "cli" / "truth.json").read_text())
    assert (truth["seed"], truth["customers"], truth["months"]) == (9, 20, 2)
    assert truth["as_of"] == "2024-05-01T00:00:00+00:00" and sorted(truth["mrr"]) == ["2024-03", "2024-04"]
    bad = runner.invoke(app, ["simulate", "--out", str(tmp_path / "bad"), "--start", "2024-13-01"])
    assert bad.exit_code != 0 and "--start" in bad.output
