"""Publish a reconciliation run to Postgres `analytics.discrepancies`, keeping each discrepancy's history.

The merge happens in one transaction: a reader never sees a half-published run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import psycopg
import pyarrow as pa

from cashbook.discrepancies import COLUMNS
from cashbook.paths import SQL_DIR

SQL = SQL_DIR / "postgres" / "lifecycle"
__all__ = ["COLUMNS", "publish_discrepancies", "resolution_history", "resolve_manually"]


def publish_discrepancies(pg_url: str, rows: pa.Table, *, run_id: str, seen_at: dt.datetime | None = None) -> dict:
    """Merge a run's rows; returns counts of new, still-open, resolved and manual rows."""
    seen_at = seen_at or dt.datetime.now(dt.UTC)
    rows = rows.select(list(COLUMNS))
    with psycopg.connect(pg_url) as conn, conn.transaction():
        conn.execute(
            f"CREATE TEMP TABLE _run_discrepancies ON COMMIT DROP AS SELECT {', '.join(COLUMNS)} "
            "FROM analytics.discrepancies WITH NO DATA"
        )
        with conn.cursor().copy(f"COPY _run_discrepancies ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for rec in rows.to_pylist():
                copy.write_row([rec[c] for c in COLUMNS])
        before = {k: v for k, v in conn.execute(
            "SELECT status, count(*) FROM analytics.discrepancies GROUP BY status").fetchall()}
        params = {"seen_at": seen_at, "run_id": run_id}
        new = conn.execute(
            "SELECT count(*) FROM _run_discrepancies r WHERE NOT EXISTS "
            "(SELECT 1 FROM analytics.discrepancies d WHERE d.discrepancy_id = r.discrepancy_id)").fetchone()[0]
        conn.execute((SQL / "discrepancies_merge.sql").read_text(), params)
        superseded = conn.execute((SQL / "discrepancies_supersede_pending.sql").read_text(), params).rowcount
        resolved = conn.execute((SQL / "discrepancies_resolve_missing.sql").read_text(), params).rowcount
        after = {k: v for k, v in conn.execute(
            "SELECT status, count(*) FROM analytics.discrepancies GROUP BY status").fetchall()}
    return {"found": rows.num_rows, "new": new, "auto_resolved": resolved, "superseded": superseded,
            "open": after.get("open", 0),
            "resolved_total": after.get("resolved", 0), "open_before": before.get("open", 0)}


def resolve_manually(conn: psycopg.Connection, discrepancy_id: str, *, note: str, who: str,
                     on_change: Callable[[psycopg.Connection, dict, dict], None] | None = None) -> bool:
    """Finance staff close a discrepancy by hand; later runs keep this resolution. Commits.

    Each resolution is appended to `analytics.discrepancy_resolutions` with what it replaced, so resolving
    an already-resolved discrepancy amends it without losing the earlier note and resolver.
    """
    with conn.transaction():
        current = conn.execute(
            "SELECT status, resolution_note, resolved_by FROM analytics.discrepancies WHERE discrepancy_id = %s"
            " FOR UPDATE", (discrepancy_id,)).fetchone()
        if current is None:
            return False
        conn.execute(
            "INSERT INTO analytics.discrepancy_resolutions (discrepancy_id, note, resolved_by, previous_status,"
            " previous_note, previous_resolved_by) VALUES (%s, %s, %s, %s, %s, %s)",
            (discrepancy_id, note, who, *current))
        conn.execute(
            "UPDATE analytics.discrepancies SET status = 'resolved', resolution_source = 'manual', "
            "resolution_note = %s, resolved_by = %s, resolved_at = now() WHERE discrepancy_id = %s",
            (note, who, discrepancy_id))
        if on_change is not None:  # e.g. the API's audit row, in the same transaction
            on_change(conn, dict(zip(("status", "resolution_note", "resolved_by"), current, strict=True)),
                      {"status": "resolved", "resolution_note": note, "resolved_by": who})
    conn.commit()
    return True


def resolution_history(conn: psycopg.Connection, discrepancy_id: str) -> list[dict] | None:
    """Every manual resolution, oldest first; None when the discrepancy does not exist."""
    from psycopg.rows import dict_row

    if conn.execute("SELECT 1 FROM analytics.discrepancies WHERE discrepancy_id = %s",
                    (discrepancy_id,)).fetchone() is None:
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT resolution_id, discrepancy_id, note, resolved_by, resolved_at, previous_status, previous_note,"
            " previous_resolved_by FROM analytics.discrepancy_resolutions WHERE discrepancy_id = %s"
            " ORDER BY resolution_id", (discrepancy_id,)).fetchall()
