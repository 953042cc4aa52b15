"""Discrepancy work list, resolve and reopen (issue 13) over the published `analytics.discrepancies`.

Every manual resolution *and* reopening is appended to `analytics.discrepancy_resolutions` (append-only,
`action` = resolve | reopen) with what it replaced, in the same transaction as the change and its audit row;
nothing is overwritten. A reopened discrepancy is `open` with no resolution: the next reconciliation run
treats it like any open row (auto-resolves it if Stripe and the ledger now agree, keeps it open otherwise).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from api.audit import Auditor
from api.problems import Problem
from api.schemas.admin import DiscrepancyOut, DiscrepancyPage
from api.services import admin_cursor
from cashbook.paths import SQL_DIR

PAGE_SQL = (SQL_DIR / "postgres" / "admin" / "discrepancies_page.sql").read_text()
_KEYS = {"amount": ("sort_amount", int), "date": ("sort_date", dt.datetime)}
_ORDERS = {"desc": ("DESC", "<"), "asc": ("ASC", ">")}
_HISTORY_SQL = (
    "SELECT resolution_id, discrepancy_id, action, note, resolved_by, resolved_at, previous_status, previous_note,"
    " previous_resolved_by FROM analytics.discrepancy_resolutions WHERE discrepancy_id = %s ORDER BY resolution_id")


def _published(conn: psycopg.Connection) -> bool:
    return bool(conn.execute("SELECT to_regclass('analytics.discrepancies') IS NOT NULL").fetchone()[0])


class Discrepancies:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def page(self, *, kind: str | None, status: str | None, currency: str | None, date_from: dt.datetime | None,
             date_to: dt.datetime | None, min_amount: int | None, sort: str, order: str, limit: int,
             cursor: str | None) -> DiscrepancyPage:
        key, key_type = _KEYS[sort]
        direction, cmp = _ORDERS[order]
        after = admin_cursor.decode(cursor, key_type, str)
        sql = PAGE_SQL.format(key=key, order=direction, after=(
            f"AND ({key}, discrepancy_id) {cmp} (%(after_key)s, %(after_id)s)" if after else ""))
        params: dict[str, Any] = {"kind": kind, "status": status, "currency": currency, "date_from": date_from,
                                  "date_to": date_to, "min_amount": min_amount, "limit": limit + 1,
                                  "after_key": after and after[0], "after_id": after and after[1]}
        with self.pool.connection() as conn:
            if not _published(conn):
                return DiscrepancyPage(items=[], next_cursor=None)
            with conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(sql, params).fetchall()
        items = [DiscrepancyOut(**admin_cursor.utc(r)) for r in rows[:limit]]
        nxt = None
        if len(rows) > limit:
            last = rows[limit - 1]
            nxt = admin_cursor.encode(last[key], last["discrepancy_id"])
        return DiscrepancyPage(items=items, next_cursor=nxt)

    def reopen(self, discrepancy_id: str, note: str, who: str, audit: Auditor) -> None:
        with self.pool.connection() as conn, conn.transaction():
            current = conn.execute(
                "SELECT status, resolution_note, resolved_by, resolution_source FROM analytics.discrepancies"
                " WHERE discrepancy_id = %s FOR UPDATE", (discrepancy_id,)).fetchone() if _published(conn) else None
            if current is None:
                raise Problem(404, "not_found", f"no discrepancy {discrepancy_id}")
            if current[0] != "resolved":
                raise Problem(409, "not_resolved", f"discrepancy {discrepancy_id} is {current[0]}; only a resolved"
                              " one can be reopened")
            conn.execute(
                "INSERT INTO analytics.discrepancy_resolutions (discrepancy_id, action, note, resolved_by,"
                " previous_status, previous_note, previous_resolved_by) VALUES (%s, 'reopen', %s, %s, %s, %s, %s)",
                (discrepancy_id, note, who, current[0], current[1], current[2]))
            conn.execute("UPDATE analytics.discrepancies SET status = 'open', resolution_source = NULL,"
                         " resolution_note = NULL, resolved_by = NULL, resolved_at = NULL WHERE discrepancy_id = %s",
                         (discrepancy_id,))
            audit.record(conn, "discrepancy.reopen", discrepancy_id,
                         before=dict(zip(("status", "resolution_note", "resolved_by", "resolution_source"), current,
                                         strict=True)),
                         after={"status": "open", "reopen_note": note, "reopened_by": who})

    def history(self, discrepancy_id: str) -> list[dict[str, Any]]:
        """Every resolution and reopening, oldest first (append-only)."""
        with self.pool.connection() as conn:
            found = _published(conn) and conn.execute(
                "SELECT 1 FROM analytics.discrepancies WHERE discrepancy_id = %s", (discrepancy_id,)).fetchone()
            if not found:
                raise Problem(404, "not_found", f"no discrepancy {discrepancy_id}")
            with conn.cursor(row_factory=dict_row) as cur:
                return [admin_cursor.utc(r) for r in cur.execute(_HISTORY_SQL, (discrepancy_id,)).fetchall()]
