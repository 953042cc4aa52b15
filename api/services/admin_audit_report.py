"""Audit reports for a period (issue 13): ledger entries, manual payments and their approvals, discrepancy
resolutions, admin actions (audit_log) and webhook events parked for review — as CSV and as JSON.

Deterministic bytes: every section has a total order (SQL `ORDER BY` on unique keys), timestamps are
rendered in UTC with microseconds, JSON keys are sorted, and nothing about the generation (time, who, id) is
inside the bytes — that lives in the `reconciliation_reports` row. So regenerating a period gives the same
bytes and digest unless the data of the period changed. (A period that includes today changes as admins
work: generating the report is itself an admin action recorded in audit_log.)
Both renderings are stored with their SHA-256, and the download returns exactly those bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import uuid
from typing import Any

import orjson
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from api.audit import Auditor
from api.problems import Problem
from api.schemas.admin import AuditReportOut, AuditReportPage
from api.services import admin_cursor
from cashbook.paths import SQL_DIR

SECTIONS_DIR = SQL_DIR / "postgres" / "admin" / "report"
SECTIONS = [(p.stem.split("_", 1)[1], p.read_text()) for p in sorted(SECTIONS_DIR.glob("*.sql"))]
CSV_COLUMNS = ("section", "id", "occurred_at", "actor", "kind", "amount", "currency", "reference", "detail")
MAX_PERIOD_DAYS = 3660
_SORT = orjson.OPT_SORT_KEYS
_META = "report_id, period_from, period_to, generated_by, generated_at, csv_sha256, json_sha256, counts"


def _ts(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _canonical(value: Any) -> Any:
    """JSON-ready, with datetimes as UTC strings (jsonb sub-values come back as plain Python values)."""
    if isinstance(value, dt.datetime):
        return _ts(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


class AuditReports:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def build(self, period_from: dt.date, period_to: dt.date) -> tuple[bytes, bytes, dict[str, int]]:
        """(CSV bytes, JSON bytes, rows per section), streamed section by section from one snapshot.

        Rows are read through server-side cursors and written straight into both renderings (no list of all
        rows is held). CSV rows follow the section order of the SQL files; the JSON document has sorted keys at
        every level (`counts`, `period`, `sections`; sections by name) and one row per line.
        """
        start = dt.datetime.combine(period_from, dt.time(), dt.UTC)
        end = dt.datetime.combine(period_to + dt.timedelta(days=1), dt.time(), dt.UTC)
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        parts: dict[str, bytes] = {}
        counts: dict[str, int] = {}
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")  # one snapshot for all
            for name, sql in SECTIONS:
                buf, n = io.BytesIO(), 0
                with conn.cursor(name=f"audit_report_{name}", row_factory=dict_row) as cur:
                    cur.itersize = 5_000
                    cur.execute(sql, {"start": start, "end": end})
                    for r in cur:
                        row = {**r, "id": str(r["id"]), "occurred_at": _ts(r["occurred_at"]),
                               "detail": _canonical(r["detail"])}
                        w.writerow([name, row["id"], row["occurred_at"] or "", row["actor"] or "", row["kind"] or "",
                                    "" if row["amount"] is None else row["amount"], row["currency"] or "",
                                    row["reference"] or "", orjson.dumps(row["detail"], option=_SORT).decode()])
                        buf.write(b"\n" if n == 0 else b",\n")
                        buf.write(orjson.dumps(row, option=_SORT))
                        n += 1
                counts[name] = n
                parts[name] = buf.getvalue() + (b"\n" if n else b"")
        head = orjson.dumps({"counts": counts, "period": {"from": period_from.isoformat(),
                                                          "to": period_to.isoformat(), "timezone": "UTC"}},
                            option=_SORT)
        sections = b",".join(orjson.dumps(name) + b":[" + parts.pop(name) + b"]" for name in sorted(parts))
        json_body = head[:-1] + b',"sections":{' + sections + b"}}\n"
        return out.getvalue().encode("utf-8"), json_body, counts

    def generate(self, period_from: dt.date, period_to: dt.date, admin_id: str, audit: Auditor,
                 fmt: str) -> dict[str, Any]:
        if period_to < period_from:
            raise Problem(422, "bad_range", "`to` is before `from`")
        if (period_to - period_from).days >= MAX_PERIOD_DAYS:
            raise Problem(422, "bad_range", f"a report covers at most {MAX_PERIOD_DAYS} days")
        csv_body, json_body, counts = self.build(period_from, period_to)
        digests = {"csv": hashlib.sha256(csv_body).hexdigest(), "json": hashlib.sha256(json_body).hexdigest()}
        report_id = "rpt_" + uuid.uuid4().hex[:24]
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("INSERT INTO reconciliation_reports (report_id, period_from, period_to, generated_by,"
                         " csv_sha256, json_sha256, csv_body, json_body, counts) VALUES (%s, %s, %s, %s, %s, %s, %s,"
                         " %s, %s)", (report_id, period_from, period_to, admin_id, digests["csv"], digests["json"],
                                      csv_body, json_body, Jsonb(counts)))
            audit.record(conn, "audit_report.generate", report_id,
                         after={"from": period_from.isoformat(), "to": period_to.isoformat(), "sha256": digests,
                                "counts": counts})
        return {"report_id": report_id, "format": fmt, "sha256": digests[fmt],
                "download_url": f"/api/admin/audit/{report_id}.{fmt}", "sha256_csv": digests["csv"],
                "sha256_json": digests["json"], "counts": counts}

    def body(self, report_id: str, fmt: str) -> tuple[bytes, str]:
        column = {"csv": "csv_body, csv_sha256", "json": "json_body, json_sha256"}[fmt]
        with self.pool.connection() as conn:
            row = conn.execute(f"SELECT {column} FROM reconciliation_reports WHERE report_id = %s",
                               (report_id,)).fetchone()
        if row is None:
            raise Problem(404, "not_found", f"no audit report {report_id}")
        return bytes(row[0]), row[1]

    def list(self, limit: int, cursor: str | None) -> AuditReportPage:
        after = admin_cursor.decode(cursor, dt.datetime, str)
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                f"SELECT {_META} FROM reconciliation_reports WHERE (%(at)s::timestamptz IS NULL OR"
                " (generated_at, report_id) < (%(at)s, %(id)s)) ORDER BY generated_at DESC, report_id DESC"
                " LIMIT %(n)s", {"at": after and after[0], "id": after and after[1], "n": limit + 1}).fetchall()
        items = [AuditReportOut(**_meta(r)) for r in rows[:limit]]
        nxt = (admin_cursor.encode(rows[limit - 1]["generated_at"], rows[limit - 1]["report_id"])
               if len(rows) > limit else None)
        return AuditReportPage(items=items, next_cursor=nxt)


def _meta(row: dict[str, Any]) -> dict[str, Any]:
    row = admin_cursor.utc(row)
    rid = row["report_id"]
    return {**row, "csv_url": f"/api/admin/audit/{rid}.csv", "json_url": f"/api/admin/audit/{rid}.json"}
