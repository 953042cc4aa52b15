"""/api/analytics/health reads the last successful run per job from a real Dagster webserver's GraphQL API."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dagster as dg
import httpx
import pytest

from tests.integration.api_fixtures import ApiFactory
from tests.integration.dagster_processes import Proc, free_port, wait_for


@dg.op
def _step() -> int:
    return 1


@dg.job(name="nightly_warehouse")
def nightly() -> None:
    _step()


@dg.op
def _boom() -> None:
    raise RuntimeError("failed on purpose")


@dg.job(name="broken_job")
def broken() -> None:
    _boom()


@pytest.mark.slow
def test_health_reports_last_successful_run_per_job(running_api_factory: ApiFactory, pg_url: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    instance = dg.DagsterInstance.from_config(str(home))  # default storage: SQLite files under home
    first = nightly.execute_in_process(instance=instance)
    second = nightly.execute_in_process(instance=instance)
    failed = broken.execute_in_process(instance=instance, raise_on_error=False)
    assert first.success and second.success and not failed.success
    port = free_port()
    env = dict(os.environ, DAGSTER_HOME=str(home))
    web = Proc("webserver", [sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port),
                             "--empty-workspace"], env, tmp_path)
    try:
        url = f"http://127.0.0.1:{port}/graphql"
        wait_for("the Dagster webserver", lambda: httpx.get(f"http://127.0.0.1:{port}/server_info",
                                                            timeout=5).status_code == 200, 180, [web], interval=1)
        monkeypatch.setenv("DAGSTER_GRAPHQL_URL", url)
        api = running_api_factory(worker_in_process=False)
        admin = api.admin_token("ops")
        body = api.client.get("/api/analytics/health", headers=admin).json()
        pipeline = body["pipeline"]
        assert pipeline["source"] == "dagster", pipeline
        assert pipeline["dagster_error"] is None
        runs = {r["job"]: r for r in pipeline["last_successful_runs"]}
        assert set(runs) == {"nightly_warehouse"}  # the failed job has no successful run
        assert runs["nightly_warehouse"]["run_id"] == second.run_id  # the newest success
        assert runs["nightly_warehouse"]["ended_at"] is not None
    finally:
        web.stop()
