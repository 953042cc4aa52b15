"""Admin reads and actions for finance and on-call: discrepancies, alerts, parked webhooks.

Reads Postgres only (what the pipeline published and the API wrote); the API never opens DuckDB.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from api.audit import Auditor
from api.problems import Problem
from cashbook.discrepancy_lifecycle import resolution_history, resolve_manually
from cashbook.paths import SQL_DIR

SQL = SQL_DIR / "postgres" / "admin"


class AdminService:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def _rows(self, name: str, params: dict[str, Any], needs: str) -> list[dict[str, Any]]:
        with self.pool.connection() as conn:
            if not conn.execute("SELECT to_regclass(%s) IS NOT NULL", (needs,)).fetchone()[0]:
                return []  # nothing published yet
            with conn.cursor(row_factory=dict_row) as cur:
                return cur.execute((SQL / f"{name}.sql").read_text(), params).fetchall()

    def discrepancies(self, **filters: Any) -> list[dict[str, Any]]:
        return self._rows("list_discrepancies", filters, "analytics.discrepancies")

    def alerts(self, **filters: Any) -> list[dict[str, Any]]:
        return self._rows("list_alerts", filters, "analytics.alerts")

    def webhooks(self, **filters: Any) -> list[dict[str, Any]]:
        return self._rows("list_webhooks", filters, "webhook_events")

    def resolve_discrepancy(self, discrepancy_id: str, note: str, who: str, audit: Auditor) -> None:
        def write_audit(conn: psycopg.Connection, before: dict[str, Any], after: dict[str, Any]) -> None:
            audit.record(conn, "discrepancy.resolve", discrepancy_id, before=before, after=after)

        with self.pool.connection() as conn:
            found = resolve_manually(conn, discrepancy_id, note=note, who=who, on_change=write_audit)
        if not found:
            raise Problem(404, "not_found", f"no discrepancy {discrepancy_id}")

    def resolution_history(self, discrepancy_id: str) -> list[dict[str, Any]]:
        with self.pool.connection() as conn:
            if not conn.execute("SELECT to_regclass('analytics.discrepancies') IS NOT NULL").fetchone()[0]:
                rows = None
            else:
                rows = resolution_history(conn, discrepancy_id)
        if rows is None:
            raise Problem(404, "not_found", f"no discrepancy {discrepancy_id}")
        return rows

    def requeue_webhook(self, event_id: str, audit: Auditor) -> None:
        with self.pool.connection() as conn, conn.transaction():
            before = conn.execute("SELECT status, attempts, last_error FROM webhook_events WHERE id = %s FOR UPDATE",
                                  (event_id,)).fetchone()
            row = conn.execute((SQL / "requeue_webhook.sql").read_text(), {"id": event_id}).fetchone()
            if row is not None and before is not None:
                audit.record(conn, "webhook.requeue", event_id,
                             before={"status": before[0], "attempts": before[1], "last_error": before[2]},
                             after={"status": "pending", "attempts": 0})
        if row is None:
            raise Problem(409, "not_parked", f"webhook event {event_id} is not in manual_review or failed")
