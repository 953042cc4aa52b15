"""The admin maintenance loop (issue 13): picks up queued reconcile jobs and enforces retention on schedule.

Retention is a periodic task of this loop — not a Dagster schedule — because it concerns the API's own tables
and must run where the API runs, Dagster or not. The loop runs in the API process beside the webhook worker
(`CASHBOOK_API_WORKER_IN_PROCESS`, the default) and in `cashbook worker`. Every `retention_interval_seconds` it
enforces (one process at a time: a transaction-level advisory lock, and the interval is measured from the last
recorded run in `admin_jobs`, so restarts do not re-run it):
- `audit_log` rows older than `audit_retention_days` are deleted in batches (the database allows it only to a
  transaction that set the cutoff, and never for rows younger than 30 days); a purge that removed something
  is itself audited;
- payloads of processed/ignored `webhook_events` older than `webhook_payload_retention_days` are reduced to the
  ids that link them to Stripe objects (parked events keep theirs: they are still to be reviewed).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from api.audit import INSERT_SQL
from api.services.admin_reconcile import ReconcileJobs
from api.settings import ApiSettings
from cashbook.paths import SQL_DIR
from cashbook.settings import Settings

_log = logging.getLogger("cashbook.api.admin_jobs")
SQL = SQL_DIR / "postgres" / "admin"
_LOCK = 0x63617368726574  # "cashret"
BATCH = 5_000


def enforce_retention(pool: ConnectionPool, settings: ApiSettings, *, now: dt.datetime | None = None
                      ) -> dict[str, Any] | None:
    """Run retention once; None when another process holds the lock. Returns what was removed."""
    now = now or dt.datetime.now(dt.UTC)
    audit_cutoff = now - dt.timedelta(days=settings.audit_retention_days)
    webhook_cutoff = now - dt.timedelta(days=settings.webhook_payload_retention_days)
    job_id = "job_" + uuid.uuid4().hex[:24]
    deleted = purged = 0
    with pool.connection() as lock_conn:
        if not lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK,)).fetchone()[0]:
            return None
        try:
            while True:
                with pool.connection() as conn, conn.transaction():
                    conn.execute("SELECT set_config('cashbook.audit_retention_cutoff', %s, true)",
                                 (audit_cutoff.isoformat(),))
                    n = conn.execute((SQL / "retention_audit.sql").read_text(),
                                     {"cutoff": audit_cutoff, "batch": BATCH}).rowcount
                deleted += n
                if n < BATCH:
                    break
            while True:
                with pool.connection() as conn:
                    n = conn.execute((SQL / "retention_webhooks.sql").read_text(),
                                     {"cutoff": webhook_cutoff, "batch": BATCH}).rowcount
                purged += n
                if n < BATCH:
                    break
            result = {"audit_rows_deleted": deleted, "webhook_payloads_purged": purged,
                      "audit_cutoff": audit_cutoff.isoformat(), "webhook_cutoff": webhook_cutoff.isoformat()}
            with pool.connection() as conn, conn.transaction():
                conn.execute("INSERT INTO admin_jobs (id, kind, status, runner, requested_by, started_at, finished_at,"
                             " result) VALUES (%s, 'retention', 'succeeded', 'worker', 'system:retention', %s, now(),"
                             " %s)", (job_id, now, Jsonb(result)))
                if deleted or purged:  # a purge that removed nothing changed nothing: no audit row
                    conn.execute(INSERT_SQL, {
                        "actor": "system:retention", "actor_email": None, "action": "retention.enforce",
                        "target": job_id, "outcome": "changed", "status_code": None, "before": None,
                        "after": Jsonb(result), "method": "JOB", "path": "retention", "query": None, "ip": None,
                        "user_agent": None, "request_id": job_id})
        finally:
            lock_conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))
    _log.info("retention: %d audit rows deleted, %d webhook payloads purged", deleted, purged)
    return result


class AdminLoop:
    def __init__(self, pool: ConnectionPool, settings: ApiSettings, core: Settings) -> None:
        self.pool, self.settings = pool, settings
        self.reconcile = ReconcileJobs(pool, settings, pool.conninfo, core)

    def retention_due(self) -> bool:
        with self.pool.connection() as conn:
            last = conn.execute("SELECT max(finished_at) FROM admin_jobs WHERE kind = 'retention' AND status ="
                                " 'succeeded'").fetchone()[0]
        return last is None or (dt.datetime.now(dt.UTC) - last).total_seconds() >= \
            self.settings.retention_interval_seconds

    def tick(self) -> dict[str, Any]:
        """One round: queued reconcile jobs, then retention if due. What it did (for tests and logs)."""
        ran_jobs = 0
        while self.reconcile.run_due():
            ran_jobs += 1
        retention = enforce_retention(self.pool, self.settings) if self.retention_due() else None
        return {"reconcile_jobs": ran_jobs, "retention": retention}

    def run_forever(self, poll_seconds: float, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # the database went away: keep the loop alive
                _log.exception("admin maintenance round failed")
            stop.wait(max(poll_seconds, 5.0))
