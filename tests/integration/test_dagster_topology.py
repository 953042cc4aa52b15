"""The production topology as separate processes: `cashbook dagster code-server`, `webserver` and `daemon`.

Against real Postgres (with a password in DATABASE_URL) and a small simulated export: the webserver's GraphQL API
shows no secret anywhere (resources, default run config, instance configuration, run logs), and a partitioned
backfill launched with the UI's own mutation is run to success by the daemon through the gRPC code server.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator

import pytest

from cashbook.lake import partition_path
from cashbook.simulator import SimConfig, simulate
from tests.databases import fresh_database
from tests.integration.dagster_processes import Proc, cashbook, free_port, graphql, wait_for, with_password

pytestmark = pytest.mark.slow

STRIPE_KEY = "sk_test_" + uuid.uuid4().hex  # never used (export source); must never be shown
DAYS = ["2025-03-02", "2025-03-03", "2025-03-04"]
REPO = {"repositoryLocationName": "cashbook", "repositoryName": "__repository__"}
START_TIMEOUT = 300  # seconds; Dagster processes take 10-30 s each to start on a loaded 2-core machine
RUN_TIMEOUT = 900

LAUNCH_BACKFILL = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on UnauthorizedError { message }
    ... on InvalidSubsetError { message }
  }
}"""
BACKFILL_STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status runs { runId status tags { key value } } }
    ... on PythonError { message }
  }
}"""
RESOURCES = """
query($sel: RepositorySelector!) {
  repositoryOrError(repositorySelector: $sel) {
    ... on Repository { allTopLevelResourceDetails { name configuredValues { key value type } } }
  }
}"""


@pytest.fixture(scope="module")
def topology(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("topology")
    with fresh_database(pg_server_url, "cbt_topo_") as base_url:
        db_url, password = with_password(base_url, "pw-" + uuid.uuid4().hex[:12])
        export = tmp / "export"
        simulate(SimConfig(out=export, customers=15, months=1, seed=7, start=dt.date(2025, 3, 1)))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "CASHBOOK_", "STRIPE_", "LEDGER_"))}
        env.update(DATABASE_URL=db_url, CASHBOOK_HOME=str(tmp / "home"), STRIPE_API_KEY=STRIPE_KEY,
                   STRIPE_EXPORT_DIR=str(export), LEDGER_CSV_PATHS=str(export / "ledger.csv"),
                   PYTHONWARNINGS="ignore")
        code_port, ui_port = free_port(), free_port()
        target = f"127.0.0.1:{code_port}"
        procs = [Proc("code-server", cashbook("dagster", "code-server", "--port", str(code_port)), env, tmp)]
        procs.append(Proc("webserver", cashbook("dagster", "webserver", "--port", str(ui_port), "--code-server", target),
                          env, tmp))
        procs.append(Proc("daemon", cashbook("dagster", "daemon", "--code-server", target), env, tmp))
        base = f"http://127.0.0.1:{ui_port}"
        try:
            wait_for("the cashbook code location in the webserver", lambda: graphql(base, RESOURCES, {"sel": REPO})
                     ["repositoryOrError"].get("allTopLevelResourceDetails"), START_TIMEOUT, procs, interval=3)
            yield {"base": base, "home": tmp / "home", "password": password, "db_url": db_url, "procs": procs}
        finally:
            for p in reversed(procs):
                p.stop()


def _assert_no_secret(text: str, password: str, where: str) -> None:
    assert STRIPE_KEY not in text, f"the Stripe key is visible in {where}"
    assert password not in text, f"the Postgres password is visible in {where}"


def test_ui_shows_env_var_names_never_secret_values(topology: dict) -> None:
    base, password = topology["base"], topology["password"]
    repo = graphql(base, RESOURCES, {"sel": REPO})["repositoryOrError"]
    values = {(r["name"], v["key"]): v for r in repo["allTopLevelResourceDetails"] for v in r["configuredValues"]}
    assert values[("postgres", "database_url")] == {"key": "database_url", "value": "DATABASE_URL", "type": "ENV_VAR"}
    assert values[("stripe", "api_key")] == {"key": "api_key", "value": "STRIPE_API_KEY", "type": "ENV_VAR"}
    _assert_no_secret(json.dumps(repo), password, "the resources' configured values")

    # the launchpad's default run config (resource config defaults) and the instance configuration page
    schema = graphql(base, """query($sel: PipelineSelector!) { runConfigSchemaOrError(selector: $sel) {
        ... on RunConfigSchema { rootDefaultYaml } } }""", {"sel": {**REPO, "pipelineName": "__ASSET_JOB"}})
    default_yaml = schema["runConfigSchemaOrError"]["rootDefaultYaml"]
    assert "database_url" in default_yaml and "api_key" in default_yaml
    _assert_no_secret(default_yaml, password, "the launchpad's default config")
    info = graphql(base, "{ instance { info } }")["instance"]["info"]
    assert "run_monitoring" in info
    _assert_no_secret(info, password, "the instance configuration")
    assert password not in (topology["home"] / "dagster" / "dagster.yaml").read_text()


def test_backfill_launched_like_the_ui_runs_to_success_through_the_daemon(topology: dict) -> None:
    base, home = topology["base"], topology["home"]
    nodes = graphql(base, "{ assetNodes { assetKey { path } isPartitioned } }")["assetNodes"]
    partitioned = {tuple(n["assetKey"]["path"]) for n in nodes if n["isPartitioned"]}
    # one raw asset per source (Stripe, ledger) keeps the run short: each asset check is its own step process
    raw = [{"path": ["raw", "stripe_balance_transactions"]}, {"path": ["raw", "ledger_entries"]}]
    assert {tuple(a["path"]) for a in raw} <= partitioned
    # what LaunchAssetChoosePartitionsDialog sends for a partition selection on the asset graph
    params = {"tags": [], "assetSelection": raw, "partitionNames": DAYS, "fromFailure": False}
    launched = graphql(base, LAUNCH_BACKFILL, {"backfillParams": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    def finished() -> dict | None:
        b = graphql(base, BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        return b if b["status"] not in ("REQUESTED", "CANCELING", "FAILING") else None

    backfill = wait_for(f"backfill {backfill_id} to finish", finished, RUN_TIMEOUT, topology["procs"], interval=3)
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    assert backfill["runs"] and all(r["status"] == "SUCCESS" for r in backfill["runs"]), backfill["runs"]
    # single-run backfill policy: one run covers the whole range
    tags = {t["key"]: t["value"] for t in backfill["runs"][0]["tags"]}
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (DAYS[0], DAYS[-1])
    for day in DAYS:
        for table in ("stripe_balance_transactions", "ledger_entries"):
            assert partition_path(home / "lake", table, dt.date.fromisoformat(day)).exists(), (table, day)
    assert not partition_path(home / "lake", "stripe_balance_transactions", dt.date(2025, 3, 5)).exists()

    logs = graphql(base, """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection {
        events { __typename ... on MessageEvent { message } } } } }""", {"id": backfill["runs"][0]["runId"]})
    assert logs["logsForRun"]["events"]
    _assert_no_secret(json.dumps(logs), topology["password"], "the run's logs")
