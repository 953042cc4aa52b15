"""Reconcile on demand (issue 13): `POST /api/admin/reconcile/payments`.

Two runners, chosen by configuration:
- `DAGSTER_GRAPHQL_URL` set: the warehouse job is launched through Dagster's GraphQL API (`launchRun`, the
  mutation the Launchpad sends), so the run shows in the UI and the run queue and pools apply; the job row
  keeps the run id and follows its status on each read. Counts come from what that run published
  (`analytics.discrepancies.last_run_id`).
- unset: a worker job. The row is queued in `admin_jobs`; a thread of the API process (started by the route,
  and the admin-jobs loop that runs beside the webhook worker) claims it with `FOR UPDATE SKIP LOCKED`,
  reconciles in an in-memory DuckDB (never the warehouse file: the API does not open it), Stripe from the export
  directory (`STRIPE_SOURCE=export`) or from the raw lake the pipeline landed (`STRIPE_SOURCE=api`), the ledger
  from `LEDGER_SOURCE` (Postgres `ledger_entries` and/or the CSV files), and publishes through the same
  lifecycle merge as the pipeline (run id `admin-<job id>`).
One active job at a time: a partial unique index on `admin_jobs (kind)`; a second start is 409. A worker job
whose process died is failed once it has run longer than `reconcile_job_timeout_seconds`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pyarrow as pa
import requests
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from api.audit import Auditor
from api.problems import Problem
from api.schemas.admin import ReconcileJobOut
from api.services import admin_cursor
from api.settings import ApiSettings
from cashbook.settings import Settings

_log = logging.getLogger("cashbook.api.admin_jobs")
KIND = "reconcile_payments"
_COLUMNS = ("id, status, runner, params, requested_by, created_at, started_at, finished_at, dagster_run_id, ui_url,"
            " result, error")
_DAGSTER_DONE = {"SUCCESS": "succeeded", "FAILURE": "failed", "CANCELED": "failed"}
LAUNCH_RUN = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on UnauthorizedError { message }
    ... on PipelineNotFoundError { message }
    ... on InvalidSubsetError { message }
    ... on RunConflict { message }
  }
}"""
RUN_STATUS = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status } ... on PythonError { message } }
}"""
COUNTS_SQL = (
    "SELECT kind, currency, count(*) AS count, count(*) FILTER (WHERE status = 'open') AS open,"
    " coalesce(sum(difference), 0)::bigint AS difference FROM analytics.discrepancies WHERE last_run_id = %s"
    " GROUP BY kind, currency ORDER BY kind, currency NULLS FIRST")


class DagsterError(RuntimeError):
    """Dagster's webserver refused or failed the request (the message is logged, not shown to clients)."""


class DagsterClient:
    def __init__(self, graphql_url: str, ui_url: str | None = None, timeout: float = 30.0) -> None:
        self.url, self.timeout = graphql_url, timeout
        parts = urlsplit(graphql_url)
        self.ui = (ui_url or urlunsplit((parts.scheme, parts.netloc, "", "", ""))).rstrip("/")

    def _post(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = requests.post(self.url, json={"query": query, "variables": variables}, timeout=self.timeout)
            resp.raise_for_status()
            payload = resp.json()
        except (requests.RequestException, ValueError) as exc:
            raise DagsterError(f"{self.url}: {exc}") from exc
        if payload.get("errors"):
            raise DagsterError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def launch(self, job: str, location: str, repository: str, tags: dict[str, str]) -> str:
        params = {"selector": {"repositoryLocationName": location, "repositoryName": repository, "jobName": job},
                  "runConfigData": {}, "executionMetadata": {"tags": [{"key": k, "value": v}
                                                                      for k, v in tags.items()]}}
        out = self._post(LAUNCH_RUN, {"executionParams": params})["launchRun"]
        if out.get("__typename") != "LaunchRunSuccess":
            raise DagsterError(f"launchRun: {out.get('__typename')}: {out.get('message') or out.get('errors')}")
        return str(out["run"]["runId"])

    def status(self, run_id: str) -> str:
        out = self._post(RUN_STATUS, {"runId": run_id})["runOrError"]
        if out.get("__typename") != "Run":
            raise DagsterError(f"runOrError: {out}")
        return str(out["status"])

    def run_url(self, run_id: str) -> str:
        return f"{self.ui}/runs/{run_id}"


class ReconcileJobs:
    def __init__(self, pool: ConnectionPool, settings: ApiSettings, database_url: str, core: Settings) -> None:
        self.pool, self.settings, self.database_url, self.core = pool, settings, database_url, core
        self.dagster = (DagsterClient(settings.dagster_graphql_url, settings.dagster_ui_url)
                        if settings.dagster_graphql_url else None)

    # -- start -------------------------------------------------------------------------------------------
    def start(self, as_of: dt.datetime | None, admin_id: str, audit: Auditor) -> ReconcileJobOut:
        if as_of is not None and as_of.tzinfo is None:
            raise Problem(422, "bad_as_of", "as_of needs a UTC offset (e.g. 2026-01-31T00:00:00Z)")
        self._expire_stale()
        runner = "dagster" if self.dagster else "worker"
        job_id = "job_" + uuid.uuid4().hex[:24]
        params = {"as_of": as_of.astimezone(dt.UTC).isoformat() if as_of else None}
        try:
            with self.pool.connection() as conn, conn.transaction():
                conn.execute("INSERT INTO admin_jobs (id, kind, status, runner, params, requested_by) VALUES"
                             " (%s, %s, 'queued', %s, %s, %s)", (job_id, KIND, runner, Jsonb(params), admin_id))
                audit.record(conn, "reconcile.start", job_id, after={"runner": runner, **params})
        except psycopg.errors.UniqueViolation:
            with self.pool.connection() as conn:
                active = conn.execute("SELECT id FROM admin_jobs WHERE kind = %s AND status IN ('queued', 'running')",
                                      (KIND,)).fetchone()
            raise Problem(409, "reconcile_in_progress", "a reconciliation is already queued or running",
                          job_id=active[0] if active else None) from None
        if self.dagster is not None:
            self._launch_dagster(job_id, admin_id)
        else:
            threading.Thread(target=self.run_due, name=f"reconcile-{job_id}", daemon=True).start()
        return self.get(job_id)

    def _launch_dagster(self, job_id: str, admin_id: str) -> None:
        assert self.dagster is not None
        s = self.settings
        try:
            run_id = self.dagster.launch(s.dagster_reconcile_job, s.dagster_repository_location,
                                         s.dagster_repository_name,
                                         {"cashbook/admin_job": job_id, "cashbook/requested_by": admin_id})
        except DagsterError as exc:
            _log.warning("reconcile job %s: Dagster launch failed: %s", job_id, exc)
            self._finish(job_id, "failed", None, "the Dagster launch failed (see the API log)")
            raise Problem(502, "dagster_unavailable", "Dagster did not accept the run; try again or start it in"
                          " the Dagster UI", job_id=job_id) from None
        with self.pool.connection() as conn:
            conn.execute("UPDATE admin_jobs SET status = 'running', started_at = now(), dagster_run_id = %s,"
                         " ui_url = %s WHERE id = %s", (run_id, self.dagster.run_url(run_id), job_id))

    def _expire_stale(self) -> None:
        """Close rows that can no longer finish by themselves (a dead worker process; a finished Dagster run)."""
        with self.pool.connection() as conn:
            conn.execute("UPDATE admin_jobs SET status = 'failed', finished_at = now(), error = 'abandoned: the"
                         " worker did not finish within reconcile_job_timeout_seconds' WHERE kind = %s AND"
                         " runner = 'worker' AND status = 'running' AND started_at < now() - make_interval(secs =>"
                         " %s)", (KIND, self.settings.reconcile_job_timeout_seconds))
            active = conn.execute("SELECT id FROM admin_jobs WHERE kind = %s AND runner = 'dagster' AND status IN"
                                  " ('queued', 'running')", (KIND,)).fetchall()
        for (job_id,) in active:
            self.get(job_id)  # refreshes from Dagster

    # -- read --------------------------------------------------------------------------------------------
    def get(self, job_id: str) -> ReconcileJobOut:
        row = self._row(job_id)
        if row is None:
            raise Problem(404, "not_found", f"no reconcile job {job_id}")
        if row["runner"] == "dagster" and row["status"] in ("queued", "running") and row["dagster_run_id"] \
                and self.dagster is not None:
            try:
                state = self.dagster.status(row["dagster_run_id"])
            except DagsterError as exc:
                _log.warning("reconcile job %s: Dagster status unavailable: %s", job_id, exc)
            else:
                if state in _DAGSTER_DONE:
                    result = {"counts": self._counts(row["dagster_run_id"])} if state == "SUCCESS" else None
                    self._finish(job_id, _DAGSTER_DONE[state], result,
                                 None if state == "SUCCESS" else f"Dagster run {state.lower()}")
                    row = self._row(job_id)
        return _out(row)

    def _row(self, job_id: str) -> dict[str, Any] | None:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(f"SELECT {_COLUMNS} FROM admin_jobs WHERE id = %s AND kind = %s",
                              (job_id, KIND)).fetchone()
        return None if row is None else admin_cursor.utc(row)

    def _counts(self, run_id: str) -> list[dict[str, Any]]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            if not conn.execute("SELECT to_regclass('analytics.discrepancies') IS NOT NULL").fetchone()[0]:
                return []
            return [dict(r) for r in cur.execute(COUNTS_SQL, (run_id,)).fetchall()]

    def _finish(self, job_id: str, status: str, result: dict[str, Any] | None, error: str | None) -> None:
        with self.pool.connection() as conn:
            conn.execute("UPDATE admin_jobs SET status = %s, finished_at = now(), result = %s, error = %s"
                         " WHERE id = %s AND status IN ('queued', 'running')",
                         (status, None if result is None else Jsonb(result), error, job_id))

    # -- the worker runner -----------------------------------------------------------------------------
    def run_due(self) -> bool:
        """Claim and run one queued worker job; False when none was queued."""
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute("SELECT id, params FROM admin_jobs WHERE kind = %s AND runner = 'worker' AND status ="
                               " 'queued' ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED", (KIND,)).fetchone()
            if row is None:
                return False
            job_id, params = row
            conn.execute("UPDATE admin_jobs SET status = 'running', started_at = now() WHERE id = %s", (job_id,))
        as_of = dt.datetime.fromisoformat(params["as_of"]) if params.get("as_of") else dt.datetime.now(dt.UTC)
        try:
            summary = reconcile_now(self.database_url, self.core, as_of, run_id=f"admin-{job_id}")
        except Exception as exc:  # recorded on the job; the message may name a file and line, never a secret
            _log.exception("reconcile job %s failed", job_id)
            self._finish(job_id, "failed", None, f"{type(exc).__name__}: {exc}"[:2000])
            return True
        self._finish(job_id, "succeeded", {"counts": self._counts(f"admin-{job_id}"), "summary": summary}, None)
        return True


def _out(row: dict[str, Any]) -> ReconcileJobOut:
    result = row["result"] or {}
    as_of = (row["params"] or {}).get("as_of")
    return ReconcileJobOut(job_id=row["id"], status=row["status"], runner=row["runner"],
                           requested_by=row["requested_by"], created_at=row["created_at"],
                           started_at=row["started_at"], finished_at=row["finished_at"],
                           dagster_run_id=row["dagster_run_id"], ui_url=row["ui_url"],
                           as_of=dt.datetime.fromisoformat(as_of) if as_of else None,
                           counts=result.get("counts"), summary=result.get("summary"), error=row["error"])


def _ledger(database_url: str, core: Settings) -> pa.Table:
    from cashbook.settings import expand_globs
    from cashbook.sources.ledger_csv import read_ledger_csv
    from cashbook.sources.ledger_pg import read_ledger_postgres

    parts = []
    if core.ledger_source in ("postgres", "both"):
        parts.append(read_ledger_postgres(database_url, dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
                                          dt.datetime(9999, 1, 1, tzinfo=dt.UTC)))
    if core.ledger_source in ("csv", "both"):
        parts += [read_ledger_csv(p) for p in expand_globs(core.ledger_csv_patterns())]
    if not parts:
        from cashbook.sources.streams import LEDGER_SCHEMA

        return LEDGER_SCHEMA.empty_table()
    return pa.concat_tables(parts)


def reconcile_now(database_url: str, core: Settings, as_of: dt.datetime, *, run_id: str) -> dict[str, int]:
    """Reconcile in an in-memory DuckDB and publish the discrepancies (lifecycle merge); the merge's counts."""
    import duckdb

    from cashbook.discrepancy_lifecycle import COLUMNS, publish_discrepancies
    from cashbook.reconcile.runner import INPUT_STREAMS, run_reconciliation
    from cashbook.sources.export import read_stream
    from cashbook.warehouse import prepare, refresh_raw_views, register_raw_tables

    ledger = _ledger(database_url, core)
    con = duckdb.connect()
    try:
        prepare(con)
        if core.stripe_source == "export":
            export = core.stripe_export_dir
            assert export is not None
            tables = {f"stripe_{s}": read_stream(export, s) for s in INPUT_STREAMS}
            created = dict(zip(tables["stripe_payouts"].column("id").to_pylist(),
                               tables["stripe_payouts"].column("created").to_pylist(), strict=True))
            tables["stripe_payout_balance_transactions"] = read_stream(export, "payout_balance_transactions",
                                                                       payout_created=created)
            register_raw_tables(con, {**tables, "ledger_entries": ledger})
        else:  # the raw lake the pipeline landed, with today's ledger instead of the landed one
            refresh_raw_views(con, core.lake_dir)
            con.execute("DROP VIEW IF EXISTS raw.ledger_entries")
            con.register("_ledger", ledger)
            con.execute("CREATE TABLE raw.ledger_entries AS SELECT *, NULL::DATE AS day FROM _ledger")
            con.unregister("_ledger")
        run_reconciliation(con, as_of=as_of, grace_days=core.reconcile_grace_days)
        rows = con.sql(f"SELECT {', '.join(COLUMNS)} FROM marts.discrepancies ORDER BY discrepancy_id"
                       ).to_arrow_table()
    finally:
        con.close()
    return publish_discrepancies(database_url, rows, run_id=run_id)
