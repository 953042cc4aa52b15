"""The truth file is exactly what a correct engine finds: checked by an independent oracle.

The oracle below re-implements DESIGN.md Contract 3 matching directly from the written files (not from
the simulator's internals) and must reproduce truth.json's discrepancies, MRR and totals exactly.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter, defaultdict
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest

from cashbook.money import to_minor
from cashbook.simulator import SimConfig, simulate
from cashbook.simulator.catalog import rhe

GRACE = 3 * 86_400
WINDOW = 2 * 86_400
CATEGORY = {"payment": "charge", "credit_purchase": "charge", "refund": "refund", "dispute": "dispute",
            "dispute_reversal": "dispute_reversal"}
MOVEMENT_CATEGORIES = {"charge", "refund", "dispute", "dispute_reversal"}


def round_half_even(numerator: int, denominator: int) -> int:
    """The oracle's own half-even division (Decimal), independent of the simulator's integer `rhe`."""
    return int((Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def test_simulator_rounds_half_even_like_the_oracle() -> None:
    assert [rhe(n, 2) for n in (1, 3, 5, -1, -3)] == [0, 2, 2, 0, -2]
    assert rhe(4900 * 12, 12) == 4900 and rhe(10000, 12) == 833
    cases = [(n, d) for n in range(-50, 51) for d in (1, 2, 3, 4, 12, 100)]
    assert [rhe(n, d) for n, d in cases] == [round_half_even(n, d) for n, d in cases]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as fh:
        return [json.loads(line) for line in fh]


def _ts(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).timestamp())


def oracle(d: Path, as_of: int) -> list[tuple[Any, ...]]:
    """Contract 3 matching, straight from DESIGN.md, over the files in `d`."""
    bts = _jsonl(d / "balance_transactions.jsonl")
    charges = {c["id"]: c for c in _jsonl(d / "charges.jsonl")}
    refunds = {r["id"]: r for r in _jsonl(d / "refunds.jsonl")}
    disputes = {x["id"]: x for x in _jsonl(d / "disputes.jsonl")}
    invoices = {i["id"]: i for i in _jsonl(d / "invoices.jsonl")}
    by_source_cat = {(b["source"], b["reporting_category"]): b for b in bts}

    def movement(b: dict[str, Any]) -> dict[str, Any]:
        src = b["source"]
        cat = b["reporting_category"]
        if cat == "charge":
            obj, sign = charges[src], 1
            cust = obj["customer"]
        elif cat == "refund":
            obj, sign = refunds[src], -1
            cust = charges[obj["charge"]]["customer"]
        else:
            obj, sign = disputes[src], -1 if cat == "dispute" else 1
            cust = charges[obj["charge"]]["customer"]
        return {"bt": b, "cur": obj["currency"], "pres": sign * obj["amount"], "customer": cust}

    moves = {b["id"]: movement(b) for b in bts if b["reporting_category"] in MOVEMENT_CATEGORIES}

    def resolve(sid: str, cat: str) -> str | None:
        if sid.startswith("pi_"):
            chs = [c["id"] for c in charges.values() if c["payment_intent"] == sid and c["status"] == "succeeded"]
            if len(chs) != 1:
                return None
            if cat == "refund":
                res = [r["id"] for r in refunds.values() if r["charge"] == chs[0]]
                return res[0] if len(res) == 1 else None
            return chs[0]
        if sid.startswith("in_"):
            inv = invoices.get(sid)
            return inv["charge"] if inv else None
        return sid

    def amount_in(m: dict[str, Any], cur: str) -> int | None:
        if cur == m["bt"]["currency"]:
            return m["bt"]["amount"]
        if cur == m["cur"]:
            return m["pres"]
        return None

    with (d / "ledger.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    entries = []
    for r in rows:
        cur = r["currency"].lower()
        entries.append({**r, "cur": cur, "minor": to_minor(r["amount"], cur), "t": _ts(r["occurred_at"])})
    entries.sort(key=lambda e: (e["t"], e["entry_id"]))

    out: list[tuple[Any, ...]] = []
    claimed: dict[tuple[str, str], str] = {}  # (bt id, ledger type) → entry
    matched: set[str] = set()
    late = as_of - GRACE

    def unmatched_ledger(e: dict[str, Any]) -> None:
        out.append(("missing_in_stripe" if e["t"] < late else "pending", None, e["stripe_id"] or None,
                    e["entry_id"], None))

    for e in entries:
        cat = CATEGORY.get(e["type"])
        if cat is None or not e["stripe_id"]:
            continue
        obj = resolve(e["stripe_id"], cat)
        b = by_source_cat.get((obj, cat)) if obj else None
        if b is None:
            unmatched_ledger(e)
            continue
        if (b["id"], e["type"]) in claimed:
            out.append(("duplicate_in_ledger", b["id"], obj, e["entry_id"], None))
            continue
        claimed[(b["id"], e["type"])] = e["entry_id"]
        matched.add(b["id"])
        m = moves[b["id"]]
        amt = amount_in(m, e["cur"])
        if amt is None:
            out.append(("currency_mismatch", b["id"], obj, e["entry_id"], None))
        elif amt != e["minor"]:
            out.append(("amount_mismatch", b["id"], obj, e["entry_id"], None))

    candidates_seen: Counter[str] = Counter()
    fuzzy: list[tuple[dict[str, Any], list[str]]] = []
    for e in entries:
        cat = CATEGORY.get(e["type"])
        if cat is None or e["stripe_id"]:
            continue
        cands = [bid for bid, m in moves.items() if bid not in matched and m["bt"]["reporting_category"] == cat
                 and m["customer"] == e["customer_id"] and abs(m["bt"]["created"] - e["t"]) <= WINDOW
                 and amount_in(m, e["cur"]) == e["minor"]]
        fuzzy.append((e, cands))
        candidates_seen.update(cands)
    for _e, cands in fuzzy:
        if len(cands) == 1:
            assert candidates_seen[cands[0]] == 1, f"two id-less entries compete for {cands[0]}"
    involved: set[str] = set()
    for e, cands in fuzzy:
        involved.update(cands)
        if len(cands) == 1:
            matched.add(cands[0])
        elif len(cands) > 1:
            out.append(("ambiguous_match", None, None, e["entry_id"], None))
        else:
            unmatched_ledger(e)
    for bid, m in moves.items():
        if bid in matched or bid in involved:
            continue
        kind = "missing_in_ledger" if m["bt"]["created"] < late else "pending"
        out.append((kind, bid, m["bt"]["source"], None, None))

    members: dict[str, list[str]] = defaultdict(list)
    for row in _jsonl(d / "payout_balance_transactions.jsonl"):
        members[row["payout"]].append(row["balance_transaction"])
    bt_by_id = {b["id"]: b for b in bts}
    for po in _jsonl(d / "payouts.jsonl"):
        total = sum(bt_by_id[t]["net"] for t in members[po["id"]] if bt_by_id[t]["type"] != "payout")
        assert po["balance_transaction"] in members[po["id"]], "payout's own BT must be listed"
        if total != po["amount"]:
            out.append(("payout_mismatch", None, None, None, po["id"]))
    return sorted(out, key=lambda x: tuple(str(v) for v in x))


def mrr_oracle(d: Path, month_ends: list[int]) -> list[dict[str, int]]:
    """DESIGN invoice-line MRR at each month's last instant, from invoices + subscriptions as written."""
    ended = {s["id"]: s["ended_at"] for s in _jsonl(d / "subscriptions.jsonl")}
    res: list[dict[str, int]] = [defaultdict(int) for _ in month_ends]
    for inv in _jsonl(d / "invoices.jsonl"):
        if inv["status"] not in ("paid", "open"):
            continue
        for line in inv["lines"]["data"]:
            if line["type"] != "subscription" or line["proration"]:
                continue
            rec = line["price"]["recurring"]
            div = {"month": 1, "year": 12}[rec["interval"]] * rec["interval_count"]
            value = line["amount"] - sum(x["amount"] for x in line["discount_amounts"])
            for i, t in enumerate(month_ends):
                end = ended[inv["subscription"]]
                if line["period"]["start"] <= t <= line["period"]["end"] and (end is None or end >= t):
                    res[i][line["currency"]] += round_half_even(value, div)
    return [dict(x) for x in res]


@pytest.fixture(scope="module")
def moderate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "export"
    simulate(SimConfig(out=out, customers=400, months=4, seed=7))
    return out


def _truth(d: Path) -> dict[str, Any]:
    return json.loads((d / "truth.json").read_text())


def test_every_kind_is_injected(moderate: Path) -> None:
    kinds = Counter(x["kind"] for x in _truth(moderate)["discrepancies"])
    for kind in ("missing_in_ledger", "missing_in_stripe", "pending", "amount_mismatch", "currency_mismatch",
                 "duplicate_in_ledger", "ambiguous_match", "payout_mismatch"):
        assert kinds[kind] >= 2, (kind, kinds)


def test_truth_discrepancies_equal_an_independent_engine(moderate: Path) -> None:
    truth = _truth(moderate)
    expected = sorted(((x["kind"], x["stripe_balance_transaction_id"], x["stripe_object_id"], x["ledger_entry_id"],
                        x["payout_id"]) for x in truth["discrepancies"]), key=lambda x: tuple(str(v) for v in x))
    found = oracle(moderate, _ts(truth["as_of"]))
    assert found == expected


def _month_ends(labels: list[str]) -> list[int]:
    ends = []
    for label in labels:
        y, m = (int(x) for x in label.split("-"))
        ends.append(int(dt.datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=dt.UTC).timestamp()) - 1)
    return ends


def _assert_mrr(d: Path) -> None:
    truth = _truth(d)
    labels = sorted(truth["mrr"])
    got = mrr_oracle(d, _month_ends(labels))
    for i, lbl in enumerate(labels):
        want = {k: v for k, v in truth["mrr"][lbl].items() if v}
        assert got[i] == want, lbl
    assert all(sum(truth["mrr"][lbl].values()) > 0 for lbl in labels)


def test_truth_mrr_equals_invoice_line_mrr(moderate: Path) -> None:
    _assert_mrr(moderate)
    assert len(_truth(moderate)["mrr"]) == 4


def test_mid_month_start_measures_calendar_month_ends(tmp_path: Path) -> None:
    out = tmp_path / "mid"
    simulate(SimConfig(out=out, customers=80, months=3, seed=3, start=dt.date(2025, 1, 15)))
    truth = _truth(out)
    assert sorted(truth["mrr"]) == ["2025-01", "2025-02", "2025-03"]
    assert truth["as_of"] == "2025-04-15T00:00:00+00:00"
    _assert_mrr(out)
    expected = sorted(((x["kind"], x["stripe_balance_transaction_id"], x["stripe_object_id"], x["ledger_entry_id"],
                        x["payout_id"]) for x in truth["discrepancies"]), key=lambda x: tuple(str(v) for v in x))
    assert oracle(out, _ts(truth["as_of"])) == expected


def test_truth_totals_match_files(moderate: Path) -> None:
    truth = _truth(moderate)
    bts = _jsonl(moderate / "balance_transactions.jsonl")
    assert truth["balance_transactions"]["count"] == len(bts)
    for cur, tot in truth["balance_transactions"]["by_currency"].items():
        mine = [b for b in bts if b["currency"] == cur]
        assert tot == {"amount": sum(b["amount"] for b in mine), "fee": sum(b["fee"] for b in mine),
                       "net": sum(b["net"] for b in mine), "count": len(mine)}
    with (moderate / "ledger.csv").open() as fh:
        assert truth["ledger"]["rows"] == sum(1 for _ in fh) - 1
