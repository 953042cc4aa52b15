"""The raw streams: their Arrow schemas and how a Stripe object becomes one row.

Both the export-directory source and the API source call `to_table`, so the two land identical
partitions for identical objects. Each row keeps the whole object canonically serialised in `_raw`
(sorted keys), so fields not promoted to columns, and fields Stripe adds later, are never lost.

Version tolerance (Stripe 2025-03-31 "basil" and later): `current_period_*` may sit on the
subscription or on its items, `invoice.subscription` may be `invoice.parent.subscription_details`,
`charge.invoice` may be absent. The adapters below read both shapes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

from cashbook.money import MoneyError, normalize_currency
from cashbook.sources.errors import SourceError

Obj = dict[str, Any]


def _id_of(v: Any) -> str | None:
    """An expandable field is an id string or an expanded object with an `id`."""
    if v is None:
        return None
    if isinstance(v, dict):
        return v.get("id")
    return str(v)


def _get(o: Obj, *path: str) -> Any:
    cur: Any = o
    for p in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def _first_item(o: Obj) -> Obj:
    data = _get(o, "items", "data")
    return data[0] if isinstance(data, list) and data else {}


def _sub_period(o: Obj, field: str) -> Any:
    v = o.get(field)
    return v if v is not None else _first_item(o).get(field)


def _invoice_subscription(o: Obj) -> str | None:
    v = _id_of(o.get("subscription"))
    if v is None:
        v = _id_of(_get(o, "parent", "subscription_details", "subscription"))
    return v


def _invoice_payment_intent(o: Obj) -> str | None:
    v = _id_of(o.get("payment_intent"))
    if v is None:
        payments = _get(o, "payments", "data")
        if isinstance(payments, list):
            for p in payments:
                pi = _id_of(_get(p, "payment", "payment_intent"))
                if pi:
                    return pi
    return v


def _invoice_charge(o: Obj) -> str | None:
    v = _id_of(o.get("charge"))
    if v is None:
        payments = _get(o, "payments", "data")
        if isinstance(payments, list):
            for p in payments:
                ch = _id_of(_get(p, "payment", "charge"))
                if ch:
                    return ch
    return v


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    extract: Callable[[Obj], Any]
    required: bool = False
    kind: str = "plain"  # plain | currency | money


def _col(name: str, typ: pa.DataType, path: str | None = None, *, required: bool = False, kind: str = "plain",
         fn: Callable[[Obj], Any] | None = None) -> Column:
    key = path or name
    return Column(name, typ, fn or (lambda o, k=key: o.get(k)), required, kind)


S, I, B = pa.string(), pa.int64(), pa.bool_()  # noqa: E741 (short type aliases keep the tables readable)


def _ref(name: str, path: str | None = None) -> Column:
    return _col(name, S, fn=lambda o, k=(path or name): _id_of(o.get(k)))


def _json(name: str, path: str | None = None) -> Column:
    return _col(name, S, fn=lambda o, k=(path or name): None if o.get(k) is None else orjson.dumps(
        o.get(k), option=orjson.OPT_SORT_KEYS).decode())


def _rate(o: Obj) -> str | None:
    v = o.get("exchange_rate")
    return None if v is None else str(v)


COMMON = [_col("id", S, required=True), _col("created", I, required=True)]

STREAM_COLUMNS: dict[str, list[Column]] = {
    "balance_transactions": [
        *COMMON,
        _col("available_on", I),
        _col("amount", I, required=True, kind="money"),
        _col("fee", I, required=True, kind="money"),
        _col("net", I, required=True, kind="money"),
        _col("currency", S, required=True, kind="currency"),
        _col("exchange_rate", S, fn=_rate),
        _col("type", S, required=True),
        _col("reporting_category", S, required=True),
        _ref("source"),
        _col("status", S),
        _col("description", S),
        _json("fee_details"),
    ],
    "charges": [
        *COMMON,
        _col("amount", I, required=True, kind="money"),
        _col("amount_captured", I, kind="money"),
        _col("amount_refunded", I, kind="money"),
        _col("currency", S, required=True, kind="currency"),
        _ref("customer"),
        _ref("payment_intent"),
        _ref("invoice"),
        _ref("balance_transaction"),
        _col("status", S),
        _col("paid", B),
        _col("captured", B),
        _col("refunded", B),
        _col("disputed", B),
        _col("failure_code", S),
        _col("failure_message", S),
        _col("outcome_type", S, fn=lambda o: _get(o, "outcome", "type")),
    ],
    "refunds": [
        *COMMON,
        _col("amount", I, required=True, kind="money"),
        _col("currency", S, required=True, kind="currency"),
        _ref("charge"),
        _ref("payment_intent"),
        _ref("balance_transaction"),
        _col("status", S),
        _col("reason", S),
    ],
    "disputes": [
        *COMMON,
        _col("amount", I, required=True, kind="money"),
        _col("currency", S, required=True, kind="currency"),
        _ref("charge"),
        _ref("payment_intent"),
        _col("status", S),
        _col("reason", S),
    ],
    "payouts": [
        *COMMON,
        _col("arrival_date", I),
        _col("amount", I, required=True, kind="money"),
        _col("currency", S, required=True, kind="currency"),
        _col("status", S),
        _col("automatic", B),
        _col("method", S),
        _col("reconciliation_status", S),
        _ref("balance_transaction"),
        _ref("failure_balance_transaction"),
    ],
    "customers": [
        *COMMON,
        _col("email", S),
        _col("name", S),
        _col("currency", S),
        _col("delinquent", B),
    ],
    "subscriptions": [
        *COMMON,
        _ref("customer"),
        _col("status", S, required=True),
        _col("currency", S, kind="currency"),
        _col("start_date", I),
        _col("cancel_at_period_end", B),
        _col("cancel_at", I),
        _col("canceled_at", I),
        _col("ended_at", I),
        _col("trial_start", I),
        _col("trial_end", I),
        _col("current_period_start", I, fn=lambda o: _sub_period(o, "current_period_start")),
        _col("current_period_end", I, fn=lambda o: _sub_period(o, "current_period_end")),
    ],
    "invoices": [
        *COMMON,
        _ref("customer"),
        _col("subscription", S, fn=_invoice_subscription),
        _col("status", S),
        _col("currency", S, required=True, kind="currency"),
        _col("amount_due", I, kind="money"),
        _col("amount_paid", I, kind="money"),
        _col("amount_remaining", I, kind="money"),
        _col("subtotal", I, kind="money"),
        _col("total", I, kind="money"),
        _col("charge", S, fn=_invoice_charge),
        _col("payment_intent", S, fn=_invoice_payment_intent),
        _col("billing_reason", S),
        _col("period_start", I),
        _col("period_end", I),
        _col("paid_at", I, fn=lambda o: _get(o, "status_transitions", "paid_at")),
    ],
}

# The membership stream is not a Stripe object: one (payout, balance_transaction) pair per line,
# partitioned by the payout's `created` day (carried as payout_created).
PAYOUT_MEMBERSHIP_SCHEMA = pa.schema(
    [("payout", S), ("balance_transaction", S), ("payout_created", I)]
)

STRIPE_STREAMS = [*STREAM_COLUMNS, "payout_balance_transactions"]


def schema_for(stream: str) -> pa.Schema:
    if stream == "payout_balance_transactions":
        return PAYOUT_MEMBERSHIP_SCHEMA
    # `_raw` is large_string: a few million objects' JSON passes the 2 GiB a plain string column can hold.
    return pa.schema([(c.name, c.type) for c in STREAM_COLUMNS[stream]] + [("_raw", pa.large_string())])


def canonical_json(obj: Obj) -> str:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()


def _check_value(col: Column, value: Any, where: str) -> Any:
    if value is None:
        if col.required:
            raise SourceError(where, f"missing required field {col.name!r}")
        return None
    t = col.type
    if t == I and (not isinstance(value, int) or isinstance(value, bool)):
        raise SourceError(where, f"field {col.name!r} must be an integer, got {value!r}")
    if t == B and not isinstance(value, bool):
        raise SourceError(where, f"field {col.name!r} must be a boolean, got {value!r}")
    if t == S and not isinstance(value, str):
        raise SourceError(where, f"field {col.name!r} must be a string, got {value!r}")
    if col.kind == "currency":
        try:
            normalize_currency(value)
        except MoneyError as exc:
            raise SourceError(where, f"field {col.name!r}: {exc}") from None
        if value != value.lower():
            raise SourceError(where, f"field {col.name!r}: currency {value!r} is not lower-case as Stripe sends it")
    return value


def to_row(stream: str, obj: Obj, where: str) -> dict[str, Any]:
    """Validate and flatten one object; raises SourceError naming `where` on anything wrong."""
    if not isinstance(obj, dict):
        raise SourceError(where, f"expected a JSON object, got {type(obj).__name__}")
    row: dict[str, Any] = {}
    for col in STREAM_COLUMNS[stream]:
        try:
            raw_value = col.extract(obj)
        except Exception as exc:  # a malformed nested shape
            raise SourceError(where, f"cannot read field {col.name!r}: {exc}") from None
        row[col.name] = _check_value(col, raw_value, where)
    row["_raw"] = canonical_json(obj)
    return row


def membership_row(obj: Obj, where: str, payout_created: dict[str, int]) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise SourceError(where, "expected a JSON object")
    po, txn = obj.get("payout"), obj.get("balance_transaction")
    if not isinstance(po, str) or not isinstance(txn, str):
        raise SourceError(where, "payout and balance_transaction must be id strings")
    if po not in payout_created:
        raise SourceError(where, f"payout {po!r} is not in payouts.jsonl")
    return {"payout": po, "balance_transaction": txn, "payout_created": payout_created[po]}


def to_table(stream: str, rows: Iterable[dict[str, Any]]) -> pa.Table:
    """Rows → Arrow table in a deterministic order (created, id) so partitions hash identically."""
    schema = schema_for(stream)
    rows = list(rows)
    if stream == "payout_balance_transactions":
        rows.sort(key=lambda r: (r["payout_created"], r["payout"], r["balance_transaction"]))
    else:
        rows.sort(key=lambda r: (r["created"], r["id"]))
    return pa.Table.from_pylist(rows, schema=schema)


def time_column(stream: str) -> str:
    return "payout_created" if stream == "payout_balance_transactions" else "created"


def utc_day(ts: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).date()


# The ledger's raw shape (docs/architecture.md); readers of CSV files and of Postgres both produce it.
LEDGER_SCHEMA = pa.schema(
    [
        ("entry_id", S),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("type", S),
        ("amount", I),
        ("currency", S),
        ("stripe_id", S),
        ("customer_id", S),
        ("description", S),
        ("source", S),
    ]
)


def lake_schema(table: str) -> pa.Schema:
    """Schema of a raw lake table (`stripe_<stream>` or `ledger_entries`)."""
    if table == "ledger_entries":
        return LEDGER_SCHEMA
    return schema_for(table.removeprefix("stripe_"))
