"""Reconcile on demand through Dagster (issue 13): with DAGSTER_GRAPHQL_URL the API launches the warehouse job
with Dagster's GraphQL `launchRun` against a real code server and webserver; the run is in the instance with our
tags, the job row carries its id and UI link and follows its status, and a second start while it is queued is
409. No daemon runs here, so the QueuedRunCoordinator keeps the run QUEUED: the test never waits for a run."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cashbook.simulator import SimConfig, simulate
from tests.databases import fresh_database
from tests.integration.api_fixtures import ApiFactory
from tests.integration.dagster_processes import Proc, cashbook, free_port, graphql, wait_for

pytestmark = pytest.mark.slow
REPO = {"repositoryLocationName": "cashbook", "repositoryName": "__repository__"}
RUN = """query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status jobName tags { key value } } } }"""
JOBS = """query($sel: RepositorySelector!) { repositoryOrError(repositorySelector: $sel) {
  ... on Repository { jobs { name } } } }"""


@pytest.fixture(scope="module")
def dagster_web(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("admin_dagster")
    with fresh_database(pg_server_url, "cbt_admdag_") as db_url:
        export = tmp / "export"
        simulate(SimConfig(out=export, customers=5, months=1, seed=3, start=dt.date(2025, 3, 1)))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "CASHBOOK_", "STRIPE_", "LEDGER_"))}
        env.update(DATABASE_URL=db_url, CASHBOOK_HOME=str(tmp / "home"), STRIPE_EXPORT_DIR=str(export),
                   LEDGER_CSV_PATHS=str(export / "ledger.csv"), PYTHONWARNINGS="ignore")
        code_port, ui_port = free_port(), free_port()
        target = f"127.0.0.1:{code_port}"
        procs = [Proc("code-server", cashbook("dagster", "code-server", "--port", str(code_port)), env, tmp)]
        procs.append(Proc("webserver", cashbook("dagster", "webserver", "--port", str(ui_port), "--code-server", target),
                          env, tmp))
        base = f"http://127.0.0.1:{ui_port}"
        try:
            wait_for("the cashbook code location in the webserver",
                     lambda: graphql(base, JOBS, {"sel": REPO})["repositoryOrError"].get("jobs"), 300, procs, interval=3)
            yield base
        finally:
            for p in reversed(procs):
                p.stop()


def test_reconcile_launches_the_warehouse_job_in_dagster(running_api_factory: ApiFactory, pg_url: str,
                                                         dagster_web: str, tmp_path: Path) -> None:
    api = running_api_factory(worker_in_process=False, dagster_graphql_url=f"{dagster_web}/graphql")
    a = api.admin_token("ops")
    r = api.client.post("/api/admin/reconcile/payments", json={}, headers=a)
    assert r.status_code == 202, r.text
    job = r.json()
    run_id = job["dagster_run_id"]
    assert (job["runner"], job["status"]) == ("dagster", "running") and run_id
    assert job["ui_url"] == f"{dagster_web}/runs/{run_id}"
    run = graphql(dagster_web, RUN, {"id": run_id})["runOrError"]
    assert run["__typename"] == "Run" and run["jobName"] == "warehouse"
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert tags["cashbook/admin_job"] == job["job_id"] and tags["cashbook/requested_by"] == "ops"
    assert run["status"] in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED")
    # the job follows the run: still active, so a second start is refused
    got = api.client.get(f"/api/admin/reconcile/payments/{job['job_id']}", headers=a).json()
    assert got["status"] == "running" and got["dagster_run_id"] == run_id
    again = api.client.post("/api/admin/reconcile/payments", json={}, headers=a)
    assert again.status_code == 409 and again.json()["job_id"] == job["job_id"]
    # the run is cancelled in Dagster: the job reads as failed and the slot is free
    out = graphql(dagster_web, """mutation($id: String!) { terminateRun(runId: $id) { __typename } }""",
                  {"id": run_id})["terminateRun"]
    assert out["__typename"] == "TerminateRunSuccess", out
    wait_for("the job to follow the cancelled run", lambda: api.client.get(
        f"/api/admin/reconcile/payments/{job['job_id']}", headers=a).json()["status"] == "failed", 120, interval=1)
    with psycopg.connect(pg_url) as conn:
        error = conn.execute("SELECT error FROM admin_jobs WHERE id = %s", (job["job_id"],)).fetchone()[0]
    assert error == "Dagster run canceled"
