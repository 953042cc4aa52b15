"""One builder for Contract 3 discrepancy rows in tests, and a table of them the publisher accepts.

Defaults describe an `amount_mismatch` of 10 minor units on 2025-01-01 whose ids derive from the discrepancy id
(`txn_<id>`, `ch_<id>`, `le_<id>`); a test names only what it is about.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from cashbook.discrepancy_lifecycle import COLUMNS

OCCURRED_AT = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

# Typed explicitly, so a column that is null in every row still has its Contract 3 type.
SCHEMA = pa.schema([
    ("discrepancy_id", pa.string()), ("kind", pa.string()), ("stripe_balance_transaction_id", pa.string()),
    ("stripe_object_id", pa.string()), ("ledger_entry_id", pa.string()), ("payout_id", pa.string()),
    ("currency", pa.string()), ("stripe_amount", pa.int64()), ("ledger_amount", pa.int64()),
    ("difference", pa.int64()), ("occurred_at", pa.timestamp("us", tz="UTC")), ("detail", pa.string())])

_UNSET: Any = object()


def discrepancy(discrepancy_id: str, kind: str = "amount_mismatch", *, difference: int = 10,
                stripe_amount: int | None = 1000, ledger_amount: int | None = _UNSET, **fields: Any) -> dict[str, Any]:
    """A discrepancy row; `ledger_amount` defaults to `stripe_amount - difference`, other columns by keyword."""
    if ledger_amount is _UNSET:
        ledger_amount = None if stripe_amount is None else stripe_amount - difference
    row = {"discrepancy_id": discrepancy_id, "kind": kind,
           "stripe_balance_transaction_id": f"txn_{discrepancy_id}", "stripe_object_id": f"ch_{discrepancy_id}",
           "ledger_entry_id": f"le_{discrepancy_id}", "payout_id": None, "currency": "usd",
           "stripe_amount": stripe_amount, "ledger_amount": ledger_amount, "difference": difference,
           "occurred_at": OCCURRED_AT, "detail": "amount differs"}
    unknown = set(fields) - set(row)
    if unknown:
        raise TypeError(f"not discrepancy columns: {sorted(unknown)}")
    row.update(fields)
    return row


def discrepancy_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as the table `publish_discrepancies` takes (Contract 3 column order)."""
    return pa.Table.from_pylist(rows, schema=SCHEMA).select(COLUMNS)
