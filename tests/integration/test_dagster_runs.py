"""`DagsterRuns`: several Dagster runs from one preloaded runner process (cashbook/cli/dagster_runs.py).

What `cashbook backfill` and the demo rely on: a raw range and then the warehouse, in one process, each a real run
on the instance (same job, the single-run backfill's partition-range tags, its own log file), the pool limits set
by the runner itself, and a failed run reported with its log tail without taking the runner down.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest
import typer

from cashbook.cli.commands_pipeline import RAW_SELECTION, WAREHOUSE_SELECTION
from cashbook.cli.dagster_runs import DagsterRuns
from tests.integration.test_raw_ingestion import pipeline_home


def test_two_runs_one_process_then_a_failure(tmp_path: Path, fixtures_dir: Path, pg_url: str) -> None:
    home, settings, env = pipeline_home(tmp_path, fixtures_dir, pg_url)  # no init_pools: the runner sets them

    with DagsterRuns(env) as runs:
        pid = runs.proc.pid
        runs.materialize(RAW_SELECTION, ("2025-03-01", "2025-03-04"), log_name="t-raw")
        runs.materialize(WAREHOUSE_SELECTION, log_name="t-warehouse")
        with pytest.raises(typer.Exit):
            runs.materialize(WAREHOUSE_SELECTION, run_config={"ops": {"reconciliation": {"config": {"as_of": "not-a-date"}}}},
                             log_name="t-bad")
        assert runs.proc.poll() is None and runs.proc.pid == pid  # the same runner, still up after a failure
        runs.materialize(WAREHOUSE_SELECTION, log_name="t-again")
    assert runs.proc.returncode == 0

    logs = {p.name.rsplit("-", 1)[0]: p.read_text() for p in (home / "logs").glob("t-*.log")}
    assert set(logs) == {"t-raw", "t-warehouse", "t-bad", "t-again"}
    assert "RUN_SUCCESS" in logs["t-raw"] and "RUN_SUCCESS" in logs["t-warehouse"] and "RUN_SUCCESS" in logs["t-again"]
    assert "RUN_SUCCESS" not in logs["t-bad"] and "not-a-date" in logs["t-bad"]
    assert "RUN_START" not in logs["t-warehouse"].split("RUN_SUCCESS")[1]  # one run's lines per file

    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        records = instance.get_run_records()  # newest first
        assert [r.dagster_run.status for r in records] == [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE,
                                                           dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.SUCCESS]
        raw = [r.dagster_run for r in records if "dagster/asset_partition_range_start" in r.dagster_run.tags]
        assert len(raw) == 1
        assert (raw[0].tags["dagster/asset_partition_range_start"],
                raw[0].tags["dagster/asset_partition_range_end"]) == ("2025-03-01", "2025-03-04")
        assert instance.event_log_storage.get_concurrency_info("duckdb").slot_count == 1
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM staging.stg_balance_transactions").fetchone()[0] == 2
    finally:
        con.close()
