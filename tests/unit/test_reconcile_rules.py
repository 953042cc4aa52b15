"""Reconciliation rules (DESIGN.md Contract 3), one small hand-written export + ledger per edge case.

Each test builds an export directory and ledger CSV in tmp_path, runs the real readers and the real
DuckDB SQL, and checks the discrepancies by kind and ids.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from cashbook.reconcile.runner import load_inputs, load_into, run_reconciliation

T0 = int(dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC).timestamp())
DAY = 86_400
AS_OF = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
STREAMS = ("balance_transactions", "charges", "refunds", "disputes", "payouts", "payout_balance_transactions",
           "customers", "subscriptions", "invoices")


@dataclass
class Export:
    """A tiny Stripe export directory plus ledger rows, written on demand."""

    objs: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {s: [] for s in STREAMS})
    ledger: list[list[str]] = field(default_factory=list)

    def bt(self, bt_id: str, source: str | None, amount: int, currency: str, category: str, created: int,
           fee: int = 0, type_: str | None = None) -> None:
        self.objs["balance_transactions"].append({
            "id": bt_id, "object": "balance_transaction", "amount": amount, "fee": fee, "net": amount - fee,
            "currency": currency, "created": created, "available_on": created + 2 * DAY,
            "type": type_ or category, "reporting_category": category, "source": source, "status": "available",
            "fee_details": [], "exchange_rate": None})

    def charge(self, ch: str, amount: int, currency: str = "usd", *, customer: str | None = "cus_1",
               created: int = T0, pi: str | None = None, invoice: str | None = None,
               settle: tuple[int, str] | None = None, bt: bool = True, fee: int = 0) -> str:
        txn = "txn_" + ch
        self.objs["charges"].append({
            "id": ch, "object": "charge", "amount": amount, "amount_captured": amount, "amount_refunded": 0,
            "currency": currency, "customer": customer, "payment_intent": pi, "invoice": invoice,
            "balance_transaction": txn if bt else None, "created": created, "status": "succeeded",
            "paid": True, "captured": True, "refunded": False, "disputed": False})
        if bt:
            s_amount, s_cur = settle or (amount, currency)
            self.bt(txn, ch, s_amount, s_cur, "charge", created, fee=fee)
        return txn

    def refund(self, re_: str, ch: str, amount: int, currency: str = "usd", *, created: int = T0 + DAY,
               settle: tuple[int, str] | None = None) -> str:
        txn = "txn_" + re_
        self.objs["refunds"].append({"id": re_, "object": "refund", "amount": amount, "currency": currency,
                                     "charge": ch, "balance_transaction": txn, "created": created,
                                     "status": "succeeded"})
        s_amount, s_cur = settle or (amount, currency)
        self.bt(txn, re_, -s_amount, s_cur, "refund", created, type_="refund")
        return txn

    def dispute(self, dp: str, ch: str, amount: int, currency: str = "usd", *, created: int = T0 + DAY) -> str:
        self.objs["disputes"].append({"id": dp, "object": "dispute", "amount": amount, "currency": currency,
                                      "charge": ch, "created": created, "status": "needs_response"})
        txn = "txn_" + dp
        self.bt(txn, dp, -amount, currency, "dispute", created, type_="adjustment")
        return txn

    def invoice(self, in_: str, charge: str | None, *, created: int = T0) -> None:
        self.objs["invoices"].append({"id": in_, "object": "invoice", "currency": "usd", "created": created,
                                      "customer": "cus_1", "status": "paid", "charge": charge})

    def payout(self, po: str, amount: int, members: list[str], currency: str = "usd", *,
               created: int = T0 + 5 * DAY, automatic: bool = True) -> None:
        own = "txn_" + po
        self.objs["payouts"].append({"id": po, "object": "payout", "amount": amount, "currency": currency,
                                     "created": created, "arrival_date": created + DAY, "status": "paid",
                                     "automatic": automatic, "reconciliation_status": "completed",
                                     "balance_transaction": own, "method": "standard"})
        self.bt(own, po, -amount, currency, "payout", created, type_="payout")
        for txn in [*members, own]:
            self.objs["payout_balance_transactions"].append({"payout": po, "balance_transaction": txn})

    def entry(self, entry_id: str, when: int | str, type_: str, amount: str, currency: str = "usd",
              stripe_id: str = "", customer: str = "cus_1", description: str = "") -> None:
        at = when if isinstance(when, str) else dt.datetime.fromtimestamp(when, dt.UTC).isoformat()
        self.ledger.append([entry_id, at, type_, amount, currency, stripe_id, customer, description])

    def write(self, root: Path) -> tuple[Path, Path]:
        export = root / "export"
        export.mkdir(parents=True, exist_ok=True)
        for stream, objs in self.objs.items():
            (export / f"{stream}.jsonl").write_bytes(b"".join(orjson.dumps(o) + b"\n" for o in objs))
        ledger = root / "ledger.csv"
        with ledger.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["entry_id", "occurred_at", "type", "amount", "currency", "stripe_id", "customer_id",
                        "description"])
            w.writerows(self.ledger)
        return export, ledger


def reconcile(ex: Export, root: Path, *, as_of: dt.datetime = AS_OF, grace_days: int = 3
              ) -> tuple[list[dict[str, Any]], duckdb.DuckDBPyConnection]:
    export, ledger = ex.write(root)
    con = duckdb.connect()
    load_into(con, load_inputs(export, ledger))
    run_reconciliation(con, as_of=as_of, grace_days=grace_days)
    cur = con.execute("SELECT * FROM marts.discrepancies")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()], con


def matched(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """currency → (matched entries, their amount) from marts.reconciliation_summary."""
    rows = con.execute("SELECT currency, count, ledger_amount FROM marts.reconciliation_summary "
                       "WHERE section = 'matched'").fetchall()
    return {cur: (n, amount) for cur, n, amount in rows}


def kinds(rows: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None, str | None]]:
    found = [(r["kind"], r["stripe_balance_transaction_id"], r["stripe_object_id"], r["ledger_entry_id"])
             for r in rows]
    return sorted(found, key=lambda t: tuple(x or "" for x in t))


def test_clean_match_by_charge_id(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_1", 4900)
    ex.entry("L1", T0, "payment", "49.00", stripe_id="ch_1")
    rows, con = reconcile(ex, tmp_path)
    assert rows == []
    assert matched(con) == {"usd": (1, 4900)}


def test_jpy_amounts_are_whole_yen(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_j", 4900, "jpy")
    ex.charge("ch_k", 5000, "jpy")
    ex.entry("L1", T0, "payment", "4900", "JPY", stripe_id="ch_j")
    ex.entry("L2", T0, "payment", "4900", "jpy", stripe_id="ch_k")
    rows, _ = reconcile(ex, tmp_path)
    assert kinds(rows) == [("amount_mismatch", "txn_ch_k", "ch_k", "L2")]
    assert (rows[0]["stripe_amount"], rows[0]["ledger_amount"], rows[0]["difference"]) == (5000, 4900, 100)
    assert rows[0]["currency"] == "jpy"


def test_partial_refunds_summing_to_the_charge(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_1", 10000)
    ex.refund("re_a", "ch_1", 3000, created=T0 + DAY)
    ex.refund("re_b", "ch_1", 7000, created=T0 + 2 * DAY)
    ex.entry("L1", T0, "payment", "100.00", stripe_id="ch_1")
    ex.entry("L2", T0 + DAY, "refund", "-30.00", stripe_id="re_a")
    ex.entry("L3", T0 + 2 * DAY, "refund", "-70.00", stripe_id="re_b")
    rows, con = reconcile(ex, tmp_path)
    assert rows == []
    assert matched(con) == {"usd": (3, 0)}


def test_refund_recorded_against_payment_intent(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_1", 5000, pi="pi_1")
    ex.refund("re_1", "ch_1", 2000)
    ex.entry("L1", T0, "payment", "50.00", stripe_id="pi_1")
    ex.entry("L2", T0 + DAY, "refund", "-20.00", stripe_id="pi_1")
    rows, con = reconcile(ex, tmp_path)
    assert rows == []
    assert matched(con) == {"usd": (2, 3000)}


def test_two_pi_refunds_pair_in_time_order_and_extra_is_duplicate(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_1", 5000, pi="pi_1")
    ex.refund("re_1", "ch_1", 1000, created=T0 + DAY)
    ex.refund("re_2", "ch_1", 1500, created=T0 + 2 * DAY)
    ex.entry("L1", T0, "payment", "50.00", stripe_id="pi_1")
    ex.entry("L2", T0 + DAY, "refund", "-10.00", stripe_id="pi_1")
    ex.entry("L3", T0 + 2 * DAY, "refund", "-15.00", stripe_id="pi_1")
    ex.entry("L4", T0 + 3 * DAY, "refund", "-15.00", stripe_id="pi_1")
    rows, _ = reconcile(ex, tmp_path)
    assert kinds(rows) == [("duplicate_in_ledger", "txn_re_2", "re_2", "L4")]


def test_invoice_id_resolves_through_either_link(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_old", 1000, invoice="in_old")  # older API: charge.invoice
    ex.charge("ch_new", 2000)  # basil: only the invoice knows its charge
    ex.invoice("in_old", None)
    ex.invoice("in_new", "ch_new")
    ex.entry("L1", T0, "payment", "10.00", stripe_id="in_old")
    ex.entry("L2", T0, "payment", "20.00", stripe_id="in_new")
    rows, _ = reconcile(ex, tmp_path)
    assert rows == []



def test_payment_intent_with_several_charges_resolves_to_the_settled_one(tmp_path: Path) -> None:
    """A PaymentIntent retried after a decline has several charges: the one with a balance transaction wins."""
    ex = Export()
    ex.charge("ch_declined", 5000, pi="pi_1", created=T0, bt=False)
    ex.charge("ch_ok", 5000, pi="pi_1", created=T0 + 60)
    ex.refund("re_1", "ch_ok", 2000)
    ex.dispute("dp_1", "ch_ok", 3000, created=T0 + 2 * DAY)
    ex.entry("L1", T0 + 60, "payment", "50.00", stripe_id="pi_1")
    ex.entry("L2", T0 + DAY, "refund", "-20.00", stripe_id="pi_1")
    ex.entry("L3", T0 + 2 * DAY, "dispute", "-30.00", stripe_id="pi_1")
    rows, con = reconcile(ex, tmp_path)
    assert rows == []
    assert matched(con) == {"usd": (3, 0)}


def test_payment_intent_with_two_settled_charges_resolves_to_the_earliest(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_b", 5000, pi="pi_1", created=T0 + 60)
    ex.charge("ch_a", 5000, pi="pi_1", created=T0)
    ex.charge("ch_c", 700, pi="pi_2", created=T0)
    ex.entry("L1", T0, "payment", "50.00", stripe_id="pi_1")
    ex.entry("L2", T0, "payment", "7.00", stripe_id="pi_2")
    rows, _ = reconcile(ex, tmp_path)
    assert kinds(rows) == [("missing_in_ledger", "txn_ch_b", "ch_b", None)]


def test_invoice_with_two_charges_resolves_to_the_settled_one(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_failed", 1000, invoice="in_1", created=T0, bt=False)
    ex.charge("ch_paid", 1000, invoice="in_1", created=T0 + 3600)
    ex.invoice("in_1", "ch_paid")
    ex.entry("L1", T0 + 3600, "payment", "10.00", stripe_id="in_1")
    rows, _ = reconcile(ex, tmp_path)
    assert rows == []


def test_indirect_and_direct_entries_for_one_charge_are_a_duplicate(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_1", 4200, pi="pi_1")
    ex.entry("L1", T0, "payment", "42.00", stripe_id="ch_1")
    ex.entry("L2", T0 + 60, "payment", "42.00", stripe_id="pi_1")
    ex.entry("L3", T0, "payment", "9.00", stripe_id="pi_unknown")
    rows, _ = reconcile(ex, tmp_path)
    assert kinds(rows) == [("duplicate_in_ledger", "txn_ch_1", "ch_1", "L2"),
                           ("missing_in_stripe", None, "pi_unknown", "L3")]

def test_dispute_and_its_reversal(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_1", 8000)
    ex.dispute("dp_1", "ch_1", 8000, created=T0 + DAY)
    ex.bt("txn_dp_1_rev", "dp_1", 8000, "usd", "dispute_reversal", T0 + 10 * DAY, type_="adjustment")
    ex.entry("L1", T0, "payment", "80.00", stripe_id="ch_1")
    ex.entry("L2", T0 + DAY, "dispute", "-80.00", stripe_id="dp_1")
    ex.entry("L3", T0 + 10 * DAY, "dispute_reversal", "80.00", stripe_id="dp_1")
    rows, con = reconcile(ex, tmp_path)
    assert rows == []
    assert matched(con) == {"usd": (3, 8000)}


def test_dispute_with_two_balance_transactions_keys_the_first(tmp_path: Path) -> None:
    """Several balance transactions of one dispute and category: only the earliest (then the lowest id) is the key
    target; a later one is not taken by the same entry, so it surfaces as missing_in_ledger."""
    ex = Export()
    ex.charge("ch_1", 8000)
    ex.dispute("dp_1", "ch_1", 8000, created=T0 + DAY)  # txn_dp_1, at T0 + DAY
    ex.bt("txn_dp_1_again", "dp_1", -8000, "usd", "dispute", T0 + 3 * DAY, type_="adjustment")
    ex.bt("txn_dp_0", "dp_1", -8000, "usd", "dispute", T0 + DAY, type_="adjustment")  # same second, lower id
    ex.entry("L1", T0, "payment", "80.00", stripe_id="ch_1")
    ex.entry("L2", T0 + DAY, "dispute", "-80.00", stripe_id="dp_1")
    rows, con = reconcile(ex, tmp_path)
    assert kinds(rows) == [("missing_in_ledger", "txn_dp_1", "dp_1", None),
                           ("missing_in_ledger", "txn_dp_1_again", "dp_1", None)]
    assert matched(con) == {"usd": (2, 8000 - 8000)}


def test_unrecorded_dispute_reversal_is_missing_in_ledger(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_1", 8000)
    ex.dispute("dp_1", "ch_1", 8000, created=T0 + DAY)
    ex.bt("txn_rev", "dp_1", 8000, "usd", "dispute_reversal", T0 + 10 * DAY, type_="adjustment")
    ex.entry("L1", T0, "payment", "80.00", stripe_id="ch_1")
    ex.entry("L2", T0 + DAY, "dispute", "-80.00", stripe_id="ch_1")  # dispute recorded against the charge
    rows, _ = reconcile(ex, tmp_path)
    assert kinds(rows) == [("missing_in_ledger", "txn_rev", "dp_1", None)]
    assert rows[0]["stripe_amount"] == 8000 and rows[0]["difference"] == 8000


def test_two_ledger_candidates_for_one_stripe_movement(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_1", 2500, customer="cus_9")
    ex.entry("L1", T0 - 3600, "credit_purchase", "25.00", customer="cus_9")
    ex.entry("L2", T0 + 3600, "credit_purchase", "25.00", customer="cus_9")
    rows, con = reconcile(ex, tmp_path)
    assert kinds(rows) == [("duplicate_in_ledger", "txn_ch_1", "ch_1", "L2")]
    assert matched(con) == {"usd": (1, 2500)}


def test_two_stripe_candidates_for_one_entry_are_ambiguous_not_missing(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_1", 2500, customer="cus_9", created=T0)
    ex.charge("ch_2", 2500, customer="cus_9", created=T0 + DAY)
    ex.charge("ch_3", 2500, customer="cus_9", created=T0 + 5 * DAY)  # outside ±2 days
    ex.entry("L1", T0 + DAY // 2, "payment", "25.00", customer="cus_9")
    rows, _ = reconcile(ex, tmp_path)
    assert kinds(rows) == [("ambiguous_match", None, None, "L1"), ("missing_in_ledger", "txn_ch_3", "ch_3", None)]
    amb = next(r for r in rows if r["kind"] == "ambiguous_match")
    assert amb["detail"] == "candidates: txn_ch_1,txn_ch_2"


@pytest.mark.parametrize("with_indirect", [False, True], ids=["charge-ids-only", "with-a-pi-id"])
def test_entries_without_stripe_id_same_outcome_whether_or_not_the_ledger_has_indirect_ids(
        tmp_path: Path, with_indirect: bool) -> None:
    """Entries without stripe_id ride through the key join when no entry needs key resolution, and are collected
    by the resolution scan otherwise (020_entry_keys.sql): both ways must give the same findings."""
    ex = Export()
    ex.charge("ch_1", 2500, customer="cus_9", created=T0)
    ex.charge("ch_2", 2500, customer="cus_9", created=T0 + DAY)
    ex.charge("ch_3", 4000, customer="cus_7", created=T0)
    ex.charge("ch_4", 1000, customer="cus_7", created=T0)
    ex.entry("L1", T0 + DAY // 2, "payment", "25.00", customer="cus_9")  # two candidates: ambiguous
    ex.entry("L2", T0 + 60, "credit_purchase", "40.00", customer="cus_7")  # one candidate: matched
    ex.entry("L3", T0 + 120, "credit_purchase", "40.00", customer="cus_7")  # the same movement again: duplicate
    ex.entry("L4", T0, "payment", "99.00", customer="cus_7")  # no candidate
    ex.entry("L5", T0, "payment", "10.00", stripe_id="ch_4", customer="cus_7")  # direct key, clean
    if with_indirect:
        ex.entry("LX", T0, "payment", "5.00", stripe_id="pi_unknown")
    rows, con = reconcile(ex, tmp_path)
    assert con.execute("SELECT getvariable('recon_has_indirect')").fetchone() == (with_indirect,)
    expected = [("ambiguous_match", None, None, "L1"), ("duplicate_in_ledger", "txn_ch_3", "ch_3", "L3"),
                ("missing_in_stripe", None, None, "L4")]
    if with_indirect:
        expected.append(("missing_in_stripe", None, "pi_unknown", "LX"))
    assert kinds(rows) == sorted(expected, key=lambda t: tuple(x or "" for x in t))
    assert matched(con) == {"usd": (2, 5000)}


def test_fuzzy_needs_same_customer_and_amount(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_1", 2500, customer="cus_a")
    ex.entry("L1", T0, "payment", "25.00", customer="cus_b")
    ex.entry("L2", T0, "payment", "25.01", customer="cus_a")
    rows, _ = reconcile(ex, tmp_path)
    assert kinds(rows) == [("missing_in_ledger", "txn_ch_1", "ch_1", None),
                           ("missing_in_stripe", None, None, "L1"), ("missing_in_stripe", None, None, "L2")]


def test_unknown_reporting_category_kept_and_summarised(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_1", 1000)
    ex.bt("txn_new", "xx_1", -250, "usd", "shiny_new_category", T0)
    ex.entry("L1", T0, "payment", "10.00", stripe_id="ch_1")
    rows, con = reconcile(ex, tmp_path)
    assert rows == []
    assert con.execute("SELECT count(*) FROM staging.stg_balance_transactions").fetchone()[0] == 2
    summary = con.execute("SELECT kind, currency, count, stripe_amount FROM marts.reconciliation_summary "
                          "WHERE section = 'unknown_reporting_category'").fetchall()
    assert summary == [("shiny_new_category", "usd", 1, -250)]


def test_payout_members_include_refund_and_fee_adjustment(tmp_path: Path) -> None:
    ex = Export()
    c1 = ex.charge("ch_1", 10000, fee=320)
    c2 = ex.charge("ch_2", 5000, fee=175)
    r1 = ex.refund("re_1", "ch_1", 2000)
    ex.bt("txn_fee", None, -150, "usd", "fee", T0 + DAY, type_="stripe_fee")
    # net: 9680 + 4825 − 2000 − 150 = 12355
    ex.payout("po_ok", 12355, [c1, c2, r1, "txn_fee"])
    c3 = ex.charge("ch_3", 3000, fee=100)
    ex.payout("po_bad", 3000, [c3], created=T0 + 6 * DAY)  # net is 2900
    ex.payout("po_manual", 999, [], automatic=False, created=T0 + 7 * DAY)
    for i, (ch, amt) in enumerate([("ch_1", "100.00"), ("ch_2", "50.00"), ("ch_3", "30.00")]):
        ex.entry(f"L{i}", T0, "payment", amt, stripe_id=ch)
    ex.entry("R1", T0 + DAY, "refund", "-20.00", stripe_id="re_1")
    rows, con = reconcile(ex, tmp_path)
    assert kinds(rows) == [("payout_mismatch", None, None, None)]
    assert (rows[0]["payout_id"], rows[0]["stripe_amount"], rows[0]["ledger_amount"], rows[0]["difference"]) == (
        "po_bad", 3000, 2900, 100)
    ok = con.execute("SELECT explained_amount, unexplained_amount, member_count FROM marts.payout_reconciliation "
                     "WHERE payout_id = 'po_ok'").fetchone()
    assert ok == (12355, 0, 4)


def test_cross_midnight_match_without_stripe_id(tmp_path: Path) -> None:
    midnight = int(dt.datetime(2026, 3, 11, tzinfo=dt.UTC).timestamp())
    ex = Export()
    ex.charge("ch_1", 4900, created=midnight + 3)
    ex.entry("L1", "2026-03-10T23:59:59+00:00", "payment", "49.00")
    ex.charge("ch_2", 1200, created=midnight + 3)
    ex.entry("L2", "2026-03-11T01:59:59+02:00", "payment", "12.00", stripe_id="ch_2")  # 23:59:59Z
    rows, con = reconcile(ex, tmp_path)
    assert rows == []
    assert matched(con) == {"usd": (2, 6100)}


def test_pending_vs_missing_by_grace_window(tmp_path: Path) -> None:
    as_of = dt.datetime(2026, 3, 20, tzinfo=dt.UTC)
    t_old, t_new = int(as_of.timestamp()) - 5 * DAY, int(as_of.timestamp()) - DAY
    ex = Export()
    ex.charge("ch_old", 100, created=t_old)
    ex.charge("ch_new", 200, created=t_new)
    ex.entry("L_old", t_old, "payment", "3.00", stripe_id="ch_gone")
    ex.entry("L_new", t_new, "payment", "4.00", stripe_id="ch_later")
    rows, _ = reconcile(ex, tmp_path, as_of=as_of)
    assert kinds(rows) == [
        ("missing_in_ledger", "txn_ch_old", "ch_old", None),
        ("missing_in_stripe", None, "ch_gone", "L_old"),
        ("pending", None, "ch_later", "L_new"),
        ("pending", "txn_ch_new", "ch_new", None),
    ]
    rows, _ = reconcile(ex, tmp_path / "again", as_of=as_of, grace_days=0)
    assert {r["kind"] for r in rows} == {"missing_in_ledger", "missing_in_stripe"}


def test_duplicate_in_ledger_keeps_earliest_as_original(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_1", 4900)
    ex.entry("L_b", T0, "payment", "49.00", stripe_id="ch_1")
    ex.entry("L_a", T0, "payment", "49.00", stripe_id="ch_1")  # same time: entry_id breaks the tie
    ex.entry("L_c", T0 + 60, "payment", "49.00", stripe_id="ch_1")
    rows, _ = reconcile(ex, tmp_path)
    assert kinds(rows) == [("duplicate_in_ledger", "txn_ch_1", "ch_1", "L_b"),
                           ("duplicate_in_ledger", "txn_ch_1", "ch_1", "L_c")]
    assert all(r["ledger_amount"] == 4900 and r["difference"] == -4900 for r in rows)


def test_presentment_differs_from_settlement(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_j", 5000, "jpy", settle=(3312, "usd"))  # ¥5000 settled as $33.12
    ex.refund("re_j", "ch_j", 1000, "jpy", settle=(662, "usd"))
    ex.charge("ch_e", 1000, "eur", settle=(1085, "usd"))
    ex.entry("L1", T0, "payment", "5000", "jpy", stripe_id="ch_j")  # presentment
    ex.entry("L2", T0 + DAY, "refund", "-1000", "jpy", stripe_id="re_j")  # presentment, signed negative
    ex.entry("L3", T0, "payment", "10.85", "usd", stripe_id="ch_e")  # settlement
    ex.charge("ch_g", 1000, "eur", settle=(1085, "usd"))
    ex.entry("L4", T0, "payment", "10.00", "gbp", stripe_id="ch_g")  # neither
    ex.charge("ch_m", 1000, "eur", settle=(1085, "usd"))
    ex.entry("L5", T0, "payment", "10.50", "eur", stripe_id="ch_m")  # presentment, wrong amount
    rows, _ = reconcile(ex, tmp_path)
    assert kinds(rows) == [("amount_mismatch", "txn_ch_m", "ch_m", "L5"),
                           ("currency_mismatch", "txn_ch_g", "ch_g", "L4")]
    mism = rows[0] if rows[0]["kind"] == "amount_mismatch" else rows[1]
    assert (mism["currency"], mism["stripe_amount"], mism["ledger_amount"], mism["difference"]) == (
        "eur", 1000, 1050, -50)
    cur = next(r for r in rows if r["kind"] == "currency_mismatch")
    # every amount is in the row's currency (gbp): the usd settlement amount only appears in detail
    assert (cur["currency"], cur["stripe_amount"], cur["ledger_amount"], cur["difference"]) == ("gbp", None, 1000, None)
    assert "1085 usd" in cur["detail"]


def test_manual_adjustments_are_not_matched(tmp_path: Path) -> None:
    ex = Export()
    ex.entry("L1", T0, "manual_adjustment", "-5.00", stripe_id="ch_x")
    ex.entry("L2", T0, "goodwill_credit", "5.00")
    rows, _ = reconcile(ex, tmp_path)
    assert rows == []


def test_discrepancy_ids_are_stable_across_runs(tmp_path: Path) -> None:
    ex = Export()
    ex.charge("ch_1", 4900)
    ex.entry("L1", T0, "payment", "48.00", stripe_id="ch_1")
    ex.entry("L2", T0, "payment", "1.00", stripe_id="ch_none")
    first, _ = reconcile(ex, tmp_path / "a")
    second, _ = reconcile(ex, tmp_path / "b")
    assert [r["discrepancy_id"] for r in first] == [r["discrepancy_id"] for r in second]
    assert len({r["discrepancy_id"] for r in first}) == 2
