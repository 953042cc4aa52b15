"""Money movements → `ledger_entries` rows, exactly once per (type, Stripe id).

The caller passes its open transaction so the ledger row commits or rolls back together with the state
change it records. `entry_id` is derived from (type, stripe_id), so even a replay through a different code
path (webhook vs. confirm endpoint) lands on the same key and is absorbed by `ON CONFLICT DO NOTHING`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg

from cashbook.logs import info_line
from cashbook.money import normalize_currency

LEDGER_TYPES = frozenset({"payment", "refund", "dispute", "dispute_reversal", "credit_purchase"})


@dataclass(frozen=True)
class Movement:
    type: str
    stripe_id: str
    amount: int  # signed minor units: + money received, − money returned
    currency: str
    occurred_at: dt.datetime
    customer_id: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        if self.type not in LEDGER_TYPES:
            raise ValueError(f"unknown ledger type {self.type!r}")
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise TypeError("ledger amount must be int minor units")
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")

    @property
    def entry_id(self) -> str:
        return f"api_{self.type}_{self.stripe_id}"


def record(conn: psycopg.Connection, m: Movement) -> bool:
    """Insert the row inside the caller's transaction; False when it was already recorded."""
    cur = conn.execute(
        "INSERT INTO ledger_entries (entry_id, occurred_at, type, amount, currency, stripe_id, customer_id,"
        " description) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (m.entry_id, m.occurred_at, m.type, m.amount, normalize_currency(m.currency), m.stripe_id,
         m.customer_id, m.description),
    )
    if cur.rowcount != 1:
        return False
    # logged under the caller's bound context (the API request, or the worker's event and its request id); the
    # cheap path of `get_logger(...).info` (cashbook/logs.py): a worker books one such line per event
    info_line("cashbook.ledger", "ledger entry recorded", entry_id=m.entry_id, type=m.type, amount=m.amount,
              currency=m.currency, stripe_id=m.stripe_id)
    return True


def from_unix(seconds: int | float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(seconds), tz=dt.UTC)
