"""A small, fast, deterministic export-directory generator for replay tests and benchmarks.

The full account simulator (`cashbook simulate`) models customers, subscriptions and money; the
replay tests and the API-source benchmark only need many well-formed, Stripe-shaped objects with
realistic time distributions, ties on `created` seconds, payouts with members and a few canceled
subscriptions. This writes exactly that (DESIGN Contract 1 file names) in seconds, even at 100k BTs.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import orjson

from cashbook.sources.registry import STRIPE_STREAMS

Obj = dict[str, Any]


def _id(prefix: str, n: int) -> str:
    return f"{prefix}_{n:012d}Rp"


def write_synthetic_export(out: Path, *, balance_transactions: int, days: int,
                           start: dt.date = dt.date(2026, 1, 1), seed: int = 7,
                           customers: int = 50) -> dict[str, int]:
    """Write an export dir with about `balance_transactions` BTs spread over `days` UTC days.

    Mix: ~85% charge BTs (each with its charge), ~10% refund BTs (with refunds), one automatic payout
    per day (its own BT, members = that day's BTs), plus failed charges without BTs, customers,
    subscriptions (some canceled), invoices and a few events. Returns object counts per file.
    """
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    t0 = int(dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC).timestamp())
    files: dict[str, list[Obj]] = {k: [] for k in (*STRIPE_STREAMS, "events")}
    cus = [{"id": _id("cus", i), "object": "customer", "created": t0 - 86400 + i, "email": f"c{i}@example.com",
            "name": f"Customer {i}", "currency": "usd", "delinquent": False, "metadata": {}}
           for i in range(customers)]
    files["customers"] = cus
    for i, c in enumerate(cus):
        canceled = i % 5 == 0
        created = t0 + rng.randrange(days * 86400)
        files["subscriptions"].append({
            "id": _id("sub", i), "object": "subscription", "created": created, "customer": c["id"],
            "status": "canceled" if canceled else "active", "currency": "usd", "start_date": created,
            "cancel_at_period_end": False, "canceled_at": created + 3600 if canceled else None,
            "ended_at": created + 3600 if canceled else None,
            "items": {"object": "list", "data": [{"id": _id("si", i), "current_period_start": created,
                                                  "current_period_end": created + 30 * 86400}]}})
        files["invoices"].append({
            "id": _id("in", i), "object": "invoice", "created": created, "customer": c["id"],
            "parent": {"subscription_details": {"subscription": _id("sub", i)}}, "status": "paid",
            "currency": "usd", "amount_due": 4900, "amount_paid": 4900, "amount_remaining": 0,
            "subtotal": 4900, "total": 4900, "billing_reason": "subscription_create",
            "period_start": created, "period_end": created, "status_transitions": {"paid_at": created}})
    base, extra = divmod(balance_transactions, days)
    n_bt = n_ch = n_re = 0
    for d in range(days):
        day_start = t0 + d * 86400
        members: list[str] = []
        for _ in range(max(0, base + (1 if d < extra else 0) - 1)):  # -1: the day's payout BT
            # Bursty seconds so several objects share one `created` second (cursor tie-breaks matter).
            created = day_start + min(86399, int(rng.betavariate(2, 2) * 86400))
            cur = "usd" if rng.random() < 0.9 else "eur"
            amount = rng.randrange(500, 50000)
            fee = amount * 29 // 1000 + 30
            customer = cus[rng.randrange(customers)]["id"]
            txn = _id("txn", n_bt)
            n_bt += 1
            if rng.random() < 0.9:
                ch = _id("ch", n_ch)
                n_ch += 1
                files["charges"].append({
                    "id": ch, "object": "charge", "created": created, "amount": amount, "amount_captured": amount,
                    "amount_refunded": 0, "currency": cur, "customer": customer, "payment_intent": _id("pi", n_ch),
                    "balance_transaction": txn, "status": "succeeded", "paid": True, "captured": True,
                    "refunded": False, "disputed": False, "failure_code": None, "failure_message": None,
                    "outcome": {"type": "authorized"}, "metadata": {}})
                bt = {"amount": amount, "fee": fee, "net": amount - fee, "type": "charge",
                      "reporting_category": "charge", "source": ch}
            else:
                re_id = _id("re", n_re)
                n_re += 1
                files["refunds"].append({
                    "id": re_id, "object": "refund", "created": created, "amount": amount, "currency": cur,
                    "charge": _id("ch", max(0, n_ch - 1)), "balance_transaction": txn, "status": "succeeded",
                    "reason": "requested_by_customer"})
                bt = {"amount": -amount, "fee": 0, "net": -amount, "type": "refund",
                      "reporting_category": "refund", "source": re_id}
            files["balance_transactions"].append({
                "id": txn, "object": "balance_transaction", "created": created, "available_on": created + 2 * 86400,
                "currency": cur, "exchange_rate": None, "status": "available", "description": None,
                "fee_details": [{"amount": bt["fee"], "currency": cur, "type": "stripe_fee"}], **bt})
            members.append(txn)
            if rng.random() < 0.05:  # a failed charge: in /v1/charges, never in balance transactions
                files["charges"].append({
                    "id": _id("ch", n_ch), "object": "charge", "created": created, "amount": amount,
                    "amount_captured": 0, "amount_refunded": 0, "currency": cur, "customer": customer,
                    "payment_intent": None, "balance_transaction": None, "status": "failed", "paid": False,
                    "captured": False, "refunded": False, "disputed": False, "failure_code": "card_declined",
                    "failure_message": "Your card was declined.", "outcome": {"type": "issuer_declined"}})
                n_ch += 1
        po_created = day_start + 86399
        po, po_txn = _id("po", d), _id("txn", n_bt)
        n_bt += 1
        files["payouts"].append({
            "id": po, "object": "payout", "created": po_created, "arrival_date": po_created + 86400,
            "amount": 1000, "currency": "usd", "status": "paid", "automatic": d % 7 != 6, "method": "standard",
            "reconciliation_status": "completed" if d % 7 != 6 else "not_applicable", "balance_transaction": po_txn,
            "failure_balance_transaction": None})
        files["balance_transactions"].append({
            "id": po_txn, "object": "balance_transaction", "created": po_created, "available_on": po_created,
            "amount": -1000, "fee": 0, "net": -1000, "currency": "usd", "exchange_rate": None, "type": "payout",
            "reporting_category": "payout", "source": po, "status": "available", "description": "STRIPE PAYOUT",
            "fee_details": []})
        if d % 7 != 6:
            files["payout_balance_transactions"].extend(
                {"payout": po, "balance_transaction": t} for t in [*members, po_txn])
    for i, ch in enumerate(files["charges"][:20]):
        files["events"].append({"id": _id("evt", i), "object": "event", "type": "charge.updated",
                                "created": ch["created"] + 3600, "data": {"object": ch}})
    for name, objs in files.items():
        with (out / f"{name}.jsonl").open("wb") as fh:
            for o in objs:
                fh.write(orjson.dumps(o) + b"\n")
    return {k: len(v) for k, v in files.items()}
