"""Read the `ledger_entries` table the billing API writes, as the raw ledger shape."""

from __future__ import annotations

import datetime as dt

import psycopg
import pyarrow as pa

from cashbook.money import MoneyError, normalize_currency
from cashbook.sources.errors import SourceError
from cashbook.sources.streams import LEDGER_SCHEMA

_QUERY = (
    "SELECT entry_id, occurred_at, type, amount, currency, stripe_id, customer_id, description "
    "FROM ledger_entries WHERE occurred_at >= %s AND occurred_at < %s ORDER BY occurred_at, entry_id"
)


def ledger_table_exists(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT to_regclass('ledger_entries') IS NOT NULL").fetchone()[0]  # type: ignore[index]


def read_ledger_postgres(pg_url: str, start: dt.datetime, end: dt.datetime) -> pa.Table:
    """Entries with start <= occurred_at < end.

    An absent table is an error, not an empty ledger: reading nothing would overwrite the window with nothing.
    """
    rows = []
    with psycopg.connect(pg_url) as conn:
        if not ledger_table_exists(conn):
            raise SourceError("postgres:ledger_entries", "table does not exist; run `cashbook migrate` (the billing "
                              "API creates and fills it) or set LEDGER_SOURCE=csv")
        for rec in conn.execute(_QUERY, (start, end)):
            entry_id, occurred_at, typ, amount, currency, stripe_id, customer_id, description = rec
            where = f"postgres:ledger_entries[{entry_id}]"
            try:
                currency = normalize_currency(currency)
            except MoneyError as exc:
                raise SourceError(where, str(exc)) from None
            rows.append(
                {
                    "entry_id": entry_id,
                    "occurred_at": occurred_at.astimezone(dt.UTC),
                    "type": typ,
                    "amount": int(amount),
                    "currency": currency,
                    "stripe_id": stripe_id or None,
                    "customer_id": customer_id,
                    "description": description,
                    "source": "postgres",
                }
            )
    return pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA)
