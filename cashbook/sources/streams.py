"""The raw streams: their Arrow schemas and how a Stripe object becomes one row.

Both the export-directory source and the API source call `to_table`, so the two land identical
partitions for identical objects. Each row keeps the whole object canonically serialised in `_raw`
(sorted keys), so fields not promoted to columns, and fields Stripe adds later, are never lost.

Version tolerance (Stripe 2025-03-31 "basil" and later): fields that moved are read through
`cashbook.stripe_shapes`, the one adapter the billing API uses too.
"""

from __future__ import annotations

import datetime as dt
import gc
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from cashbook.money import KNOWN_CURRENCIES, MoneyError, normalize_currency
from cashbook.sources.errors import SourceError
from cashbook.stripe_shapes import (
    expandable_id,
    get_path,
    invoice_charge_id,
    invoice_payment_intent_id,
    invoice_subscription_id,
    subscription_period_end,
    subscription_period_start,
)

Obj = dict[str, Any]


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    extract: Callable[[Obj], Any]
    required: bool = False
    kind: str = "plain"  # plain | currency | money
    # Set when `extract` is exactly `o.get(key)`: the fast path then inlines the lookup (no call per value).
    key: str | None = None


def _col(name: str, typ: pa.DataType, path: str | None = None, *, required: bool = False, kind: str = "plain",
         fn: Callable[[Obj], Any] | None = None) -> Column:
    key = path or name
    return Column(name, typ, fn or (lambda o, k=key: o.get(k)), required, kind, key=None if fn else key)


S, I, B = pa.string(), pa.int64(), pa.bool_()  # noqa: E741 (short type aliases keep the tables readable)


def _ref(name: str, path: str | None = None) -> Column:
    return _col(name, S, fn=lambda o, k=(path or name): expandable_id(o.get(k)))


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
        _col("outcome_type", S, fn=lambda o: get_path(o, "outcome", "type")),
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
        _col("current_period_start", I, fn=subscription_period_start),
        _col("current_period_end", I, fn=subscription_period_end),
    ],
    "invoices": [
        *COMMON,
        _ref("customer"),
        _col("subscription", S, fn=invoice_subscription_id),
        _col("status", S),
        _col("currency", S, required=True, kind="currency"),
        _col("amount_due", I, kind="money"),
        _col("amount_paid", I, kind="money"),
        _col("amount_remaining", I, kind="money"),
        _col("subtotal", I, kind="money"),
        _col("total", I, kind="money"),
        _col("charge", S, fn=invoice_charge_id),
        _col("payment_intent", S, fn=invoice_payment_intent_id),
        _col("billing_reason", S),
        _col("period_start", I),
        _col("period_end", I),
        _col("paid_at", I, fn=lambda o: get_path(o, "status_transitions", "paid_at")),
    ],
}

# The membership stream is not a Stripe object: one (payout, balance_transaction) pair per line,
# partitioned by the payout's `created` day (carried as payout_created).
PAYOUT_MEMBERSHIP_SCHEMA = pa.schema(
    [("payout", S), ("balance_transaction", S), ("payout_created", I)]
)



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


# ---- fast conversion ----------------------------------------------------------------------------------
# `to_row` checks every value of every row in Python, which made it most of the cost of ingestion. The fast
# path reads each object once into a tuple of its column values (one generated function per stream, plain
# `dict.get` for top-level fields, the column's own `extract` otherwise), transposes the tuples into columns
# and lets Arrow infer each column's type: Arrow infers int64 only when every value is a Python int (bools
# and floats give other types or an error), string only for str, bool only for bool, so "the inferred type
# is the column's type" is the rule `_check_value` applies value by value. Whenever anything is not exactly
# right (a wrong type, a missing required value, a currency that is not already a known lower-case code, a
# nested shape `extract` chokes on, a line that is not a JSON object), the batch is converted again by
# `to_row`, which either accepts it or names the first bad row: accepted batches are identical either way,
# and errors keep their location and wording. Objects are read while they are still in the CPU cache
# (right after parsing, for export lines): walking 10,000 parsed charges once per column cost more than
# parsing them.

_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during a bulk conversion or fetch; nests across threads.

    Parsed JSON holds no reference cycles (reference counting frees it), but a batch allocates hundreds of
    thousands of dicts and lists, and every so often the collector walked the whole heap: in a Dagster run
    a large one, and while an API fetch keeps every object of a window, one that grows with each page.
    That cost more than the parsing itself, and stalled every request thread while it ran (the API
    benchmark's dips below the rate limit). The collector resumes when the last pause ends.

    What a pause allocated and kept (an API fetch's objects: ~3M containers for 100,000 balance transactions with
    their charges) is then all in the youngest generation, and the first young collections after the pause walked
    it whole: 0.3-0.5 s after the last response of the API benchmark, about 1 % of its run. So the survivors are handed to
    the oldest generation in one step (`freeze` + `unfreeze`: two list splices, no traversal), where only a full
    collection looks at them, as it would at any long-lived data; cyclic garbage among them is still found there.
    Skipped when something else froze objects (the API's startup heap, api/gcpolicy.py): `unfreeze` would undo that.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                if gc.get_freeze_count() == 0:
                    gc.freeze()
                    gc.unfreeze()
                gc.enable()


class _Decline(Exception):
    """The fast path cannot vouch for this batch; `to_row` decides."""


_KNOWN_CURRENCIES = pa.array(sorted(KNOWN_CURRENCIES), pa.string())


_GETTERS: dict[str, Callable[[Obj], tuple[Any, ...]]] = {}


def _stream_getter(stream: str) -> Callable[[Obj], tuple[Any, ...]]:
    getter = _GETTERS.get(stream)
    if getter is None:
        cols = STREAM_COLUMNS[stream]
        parts = [f"o.get({c.key!r})" if c.key is not None else f"f[{i}](o)" for i, c in enumerate(cols)]
        getter = eval("lambda o, f=f: (" + ", ".join(parts) + ",)", {"f": [c.extract for c in cols]})
        _GETTERS[stream] = getter
    return getter


def _checked(col: Column, values: Sequence[Any]) -> pa.Array:
    try:
        arr = pa.array(values)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        raise _Decline from None
    if arr.type == pa.null():
        arr = arr.cast(col.type)
    elif arr.type != col.type:
        raise _Decline
    if col.required and arr.null_count:
        raise _Decline
    if (col.kind == "currency" and arr.null_count < len(arr)
            and not pc.all(pc.is_in(arr.drop_null(), value_set=_KNOWN_CURRENCIES)).as_py()):
        raise _Decline
    return arr


def _batch(stream: str, rows: list[tuple[Any, ...]], raws: list[str]) -> pa.RecordBatch:
    schema = schema_for(stream)
    cols = STREAM_COLUMNS[stream]
    if not rows:
        return pa.RecordBatch.from_pylist([], schema=schema)
    arrays = [_checked(col, values) for col, values in zip(cols, zip(*rows, strict=True), strict=True)]
    arrays.append(pa.array(raws, pa.large_string()))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def row_getter(stream: str) -> Callable[[Obj], tuple[Any, ...]]:
    """Object -> tuple of the stream's column values, unchecked (see `prebuilt_batch`)."""
    return _stream_getter(stream)


def checked_batch(stream: str, rows: list[tuple[Any, ...]], raws: list[str]) -> pa.RecordBatch:
    """The batch for rows built with `row_getter` and their `canonical_json`, if every column checks out.

    Raises ValueError when it does not: the caller converts the objects with `to_batch` instead, which
    names the bad row. Lets a source build rows as objects arrive (e.g. page by page from the API)."""
    try:
        return _batch(stream, rows, raws)
    except _Decline:
        raise ValueError(f"{stream}: rows need the row-by-row check") from None


def to_batch(stream: str, objs: Sequence[Any], where: Callable[[int], str]) -> pa.RecordBatch:
    """Validated rows of `objs` as one batch: exactly `from_pylist([to_row(...) for ...])`, only faster.

    `where(i)` names the i-th object's location for error messages (file:line, request).
    """
    getter = _stream_getter(stream)
    try:
        rows, raws = [], []
        for o in objs:
            if type(o) is not dict:
                raise _Decline
            rows.append(getter(o))
            raws.append(orjson.dumps(o, option=orjson.OPT_SORT_KEYS).decode())
        return _batch(stream, rows, raws)
    except Exception:  # _Decline, or a malformed nested shape inside an `extract`: `to_row` names it
        return pa.RecordBatch.from_pylist([to_row(stream, o, where(i)) for i, o in enumerate(objs)],
                                          schema=schema_for(stream))


def lines_to_batch(stream: str, lines: Sequence[bytes], where: Callable[[int], str]) -> pa.RecordBatch:
    """`to_batch` over JSON lines, each object read right after it is parsed.

    Malformed JSON raises SourceError at `where(i)`, after the lines before it were checked, so the first
    bad line of the file is the one reported, whatever its fault.
    """
    getter = _stream_getter(stream)
    loads, dumps, sort = orjson.loads, orjson.dumps, orjson.OPT_SORT_KEYS
    try:
        rows, raws = [], []
        for line in lines:
            o = loads(line)
            if type(o) is not dict:
                raise _Decline
            rows.append(getter(o))
            raws.append(dumps(o, option=sort).decode())
        return _batch(stream, rows, raws)
    except Exception:  # incl. orjson.JSONDecodeError: the slow path finds and names the first bad line
        pass
    good: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        try:
            o = loads(line)
        except orjson.JSONDecodeError as exc:
            raise SourceError(where(i), f"malformed JSON: {exc}") from None
        good.append(to_row(stream, o, where(i)))
    return pa.RecordBatch.from_pylist(good, schema=schema_for(stream))


def membership_lines_to_batch(lines: Sequence[bytes], where: Callable[[int], str],
                              payout_created: dict[str, int]) -> pa.RecordBatch:
    """`membership_row` over JSON lines, fast path first (same fallback rule as `lines_to_batch`)."""
    loads = orjson.loads
    try:
        payouts, txns = [], []
        for line in lines:
            o = loads(line)
            if type(o) is not dict:
                raise _Decline
            payouts.append(o.get("payout"))
            txns.append(o.get("balance_transaction"))
        get = payout_created.get
        created = [get(p) if type(p) is str else None for p in payouts]
        arrays = [pa.array(payouts), pa.array(txns), pa.array(created, pa.int64())]
        if (arrays[0].type == S and arrays[1].type == S and not arrays[0].null_count and not arrays[1].null_count
                and not arrays[2].null_count):
            return pa.RecordBatch.from_arrays(arrays, schema=PAYOUT_MEMBERSHIP_SCHEMA)
    except Exception:
        pass
    good: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        try:
            o = loads(line)
        except orjson.JSONDecodeError as exc:
            raise SourceError(where(i), f"malformed JSON: {exc}") from None
        good.append(membership_row(o, where(i), payout_created))
    return pa.RecordBatch.from_pylist(good, schema=PAYOUT_MEMBERSHIP_SCHEMA)


def sort_columns(stream: str) -> list[str]:
    """The order every source lands rows in: (created, id); memberships by payout day, payout, transaction."""
    if stream == "payout_balance_transactions":
        return ["payout_created", "payout", "balance_transaction"]
    return ["created", "id"]


def sort_table(stream: str, table: pa.Table) -> pa.Table:
    """The order `to_table` gives (`sort_columns`)."""
    if table.num_rows < 2:
        return table
    keys = [(c, "ascending") for c in sort_columns(stream)]
    order = pc.sort_indices(table.select([k for k, _ in keys]), sort_keys=keys)
    if pc.all(pc.equal(order, pa.array(range(table.num_rows), type=order.type))).as_py():
        return table
    return table.take(order)


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
