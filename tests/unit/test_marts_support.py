"""Small hand-built Stripe objects for the mart tests, shaped like the real API (fixtures3.json).

Objects go through `cashbook.sources.streams.to_row/to_table` and `cashbook.warehouse.register_raw_tables`,
the same path the CLI uses, so the marts read exactly what the lake would hold.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

import duckdb
import pyarrow as pa

from cashbook.sources.streams import to_row, to_table
from cashbook.warehouse import register_raw_tables


def ts(text: str) -> int:
    """`2025-01-31T23:59:59` (UTC) -> Unix seconds."""
    return calendar.timegm(dt.datetime.fromisoformat(text).timetuple())


class Account:
    """Collects objects per stream; `load()` returns an in-memory DuckDB with `raw.*` filled."""

    def __init__(self) -> None:
        self.objects: dict[str, list[dict[str, Any]]] = {}
        self._n = 0

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n:06d}"

    def add(self, stream: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects.setdefault(stream, []).append(obj)
        return obj

    def customer(self, created: str, cid: str | None = None) -> str:
        cid = cid or self._id("cus")
        self.add("customers", {"id": cid, "object": "customer", "created": ts(created), "email": None,
                               "name": None, "currency": None, "delinquent": False, "livemode": False,
                               "metadata": {}})
        return cid

    def subscription(self, customer: str, created: str, *, ended_at: str | None = None,
                     currency: str = "usd", interval: str = "month", price_id: str | None = None) -> str:
        sid = self._id("sub")
        price = {"id": price_id or self._id("price"), "object": "price",
                 "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"}}
        self.add("subscriptions", {
            "id": sid, "object": "subscription", "customer": customer, "status": "canceled" if ended_at else "active",
            "currency": currency, "created": ts(created), "start_date": ts(created),
            "cancel_at_period_end": False, "cancel_at": None, "canceled_at": ts(ended_at) if ended_at else None,
            "ended_at": ts(ended_at) if ended_at else None, "trial_start": None, "trial_end": None,
            "items": {"object": "list", "data": [{"id": self._id("si"), "object": "subscription_item",
                                                  "price": price, "current_period_start": ts(created),
                                                  "current_period_end": ts(created)}]},
        })
        return sid

    def invoice(self, customer: str, subscription: str | None, created: str, lines: list[dict[str, Any]],
                *, status: str = "paid", currency: str = "usd") -> str:
        iid = self._id("in")
        total = sum(line["amount"] - sum(d["amount"] for d in line.get("discount_amounts", [])) for line in lines)
        self.add("invoices", {
            "id": iid, "object": "invoice", "customer": customer, "subscription": subscription, "status": status,
            "currency": currency, "amount_due": total, "amount_paid": total if status == "paid" else 0,
            "amount_remaining": 0 if status == "paid" else total, "subtotal": total, "total": total,
            "charge": None, "payment_intent": None, "billing_reason": "subscription_cycle", "created": ts(created),
            "period_start": ts(created), "period_end": ts(created), "status_transitions": {"paid_at": None},
            "lines": {"object": "list", "has_more": False, "data": lines},
        })
        return iid

    def line(self, amount: int, start: str, end: str, *, interval: str = "month", interval_count: int = 1,
             discount: int = 0, proration: bool = False, subscription: str | None = None,
             currency: str = "usd", basil_price: str | None = None) -> dict[str, Any]:
        """A subscription invoice line; `basil_price` builds the 2025-03-31+ shape (price id only)."""
        base: dict[str, Any] = {
            "id": self._id("il"), "object": "line_item", "amount": amount, "currency": currency,
            "discount_amounts": [{"amount": discount, "discount": "di_x"}] if discount else [],
            "period": {"start": ts(start), "end": ts(end)},
        }
        if basil_price:
            base["pricing"] = {"type": "price_details", "price_details": {"price": basil_price, "product": "prod_x"}}
            base["parent"] = {"type": "subscription_item_details",
                              "subscription_item_details": {"subscription": subscription, "proration": proration}}
        else:
            base.update({"type": "subscription", "proration": proration, "subscription": subscription,
                         "price": {"id": self._id("price"), "object": "price", "type": "recurring",
                                   "recurring": {"interval": interval, "interval_count": interval_count}}})
        return base

    def bt(self, created: str, amount: int, fee: int, category: str, *, currency: str = "usd",
           source: str | None = None) -> str:
        tid = self._id("txn")
        self.add("balance_transactions", {
            "id": tid, "object": "balance_transaction", "created": ts(created), "available_on": ts(created),
            "amount": amount, "fee": fee, "net": amount - fee, "currency": currency, "exchange_rate": None,
            "type": category, "reporting_category": category, "source": source, "status": "available",
            "description": None, "fee_details": [],
        })
        return tid

    def charge(self, created: str, amount: int, status: str, *, currency: str = "usd",
               failure_code: str | None = None) -> str:
        cid = self._id("ch")
        self.add("charges", {
            "id": cid, "object": "charge", "created": ts(created), "amount": amount, "amount_captured": amount,
            "amount_refunded": 0, "currency": currency, "customer": None, "payment_intent": None, "invoice": None,
            "balance_transaction": None, "status": status, "paid": status == "succeeded",
            "captured": status == "succeeded", "refunded": False, "disputed": False, "failure_code": failure_code,
            "failure_message": None, "outcome": {"type": "authorized"},
        })
        return cid

    def tables(self) -> dict[str, pa.Table]:
        return {f"stripe_{stream}": to_table(stream, [to_row(stream, o, f"test:{stream}:{i}")
                                                      for i, o in enumerate(objs, 1)])
                for stream, objs in self.objects.items()}

    def load(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        register_raw_tables(con, self.tables())
        return con


def test_account_builds_every_raw_table() -> None:
    acct = Account()
    cus = acct.customer("2025-01-01T00:00:00")
    acct.bt("2025-01-02T00:00:00", 100, 33, "charge")
    acct.invoice(cus, None, "2025-01-02T00:00:00", [acct.line(100, "2025-01-02T00:00:00", "2025-02-02T00:00:00")])
    con = acct.load()
    assert con.execute("SELECT count(*) FROM raw.stripe_invoices").fetchone() == (1,)
    assert con.execute("SELECT count(*) FROM raw.stripe_charges").fetchone() == (0,)  # empty, typed
    assert ts("1970-01-02T00:00:00") == 86400
