"""A dead run cannot wedge the `duckdb` pool: with the daemon running, a run holding the slot is SIGKILLed and the
next run that needs the slot proceeds to success, nothing deleted.

Two ways a run dies: launched through the queue and the code server (the code server sees its run process die
and marks the run failed), or an in-process CLI run whose process is gone with nobody left to notice (run
monitoring's max runtime marks it failed). Either way the monitoring daemon then frees the dead run's slots
(`free_slots_after_run_end_seconds`), which is what was missing when a dead run blocked every later one: in
Dagster 1.13 nothing else gives back the slots of a run that ended without releasing them, except deleting it.
Poll intervals come from the operator's dagster.operator.yaml, so the test is also the merge in action.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml

from cashbook.dagster_instance import OPERATOR_FILE
from cashbook.settings import load_settings
from tests.integration.dagster_processes import ROOT, Proc, cashbook, dagster, free_port, wait_for

pytestmark = pytest.mark.slow

LOCATION_MODULE = "tests.integration.dagster_pool_location"
START_TIMEOUT = 300  # generous: Dagster processes take 10-30 s to start on a loaded 2-core machine
RUN_TIMEOUT = 300


def _new_pid(pid_dir: Path, seen: set[int]) -> int | None:
    pids = {int(p.stem) for p in pid_dir.glob("*.pid")} - seen
    return pids.pop() if pids else None


def _status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus | None:
    run = instance.get_run_by_id(run_id)
    return run.status if run else None


def _holders(instance: dg.DagsterInstance) -> set[str]:
    return {slot.run_id for slot in instance.event_log_storage.get_concurrency_info("duckdb").claimed_slots}


def test_killed_runs_release_the_duckdb_slot_and_the_next_run_succeeds(pg_url: str, tmp_path: Path) -> None:
    settings = load_settings(cashbook_home=tmp_path / "home", database_url=pg_url)
    dagster_home = settings.dagster_home
    assert dagster_home is not None
    dagster_home.mkdir(parents=True)
    (dagster_home / OPERATOR_FILE).write_text(yaml.safe_dump({
        "run_monitoring": {"poll_interval_seconds": 1, "free_slots_after_run_end_seconds": 1},
        "run_coordinator": {"config": {"dequeue_interval_seconds": 1}},
    }))
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "CASHBOOK_"))}
    env.update(DATABASE_URL=pg_url, CASHBOOK_HOME=str(settings.cashbook_home), DAGSTER_HOME=str(dagster_home),
               POOL_TEST_PID_DIR=str(pid_dir), PYTHONWARNINGS="ignore")
    port = free_port()
    # the workspace `cashbook dagster daemon` writes for the code server: runs must name the same location
    workspace = dagster_home / f"workspace.grpc-127.0.0.1-{port}.yaml"

    def launch(job: str) -> str:
        run_id = str(uuid.uuid4())
        out = subprocess.run(dagster("job", "launch", "-w", str(workspace), "-j", job, "--run-id", run_id),
                             env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
        return run_id

    procs = [Proc("code-server", dagster("code-server", "start", "-m", LOCATION_MODULE, "--location-name", "cashbook",
                                         "-h", "127.0.0.1", "-p", str(port)), env, tmp_path)]
    procs.append(Proc("daemon", cashbook("dagster", "daemon", "--code-server", f"127.0.0.1:{port}"), env, tmp_path))
    instance = None
    orphan: subprocess.Popen | None = None
    try:
        wait_for("dagster.yaml and the workspace", lambda: workspace.exists(), START_TIMEOUT, procs)
        instance = dg.DagsterInstance.from_config(str(dagster_home))
        wait_for("the monitoring and run-queue daemons", lambda: {"MONITORING", "QUEUED_RUN_COORDINATOR"}
                 <= set(instance.get_daemon_heartbeats()), START_TIMEOUT, procs, interval=2)
        for probe in (cashbook("dagster", "daemon-check"), cashbook("dagster", "migrate")):
            out = subprocess.run(probe, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
            assert out.returncode == 0, (probe, out.stdout[-2000:], out.stderr[-2000:])

        # 1. a queued run launched through the code server, killed while it holds the slot
        held = launch("hold")
        pid = wait_for("the first run to hold the slot", lambda: _new_pid(pid_dir, set()), RUN_TIMEOUT, procs)
        assert _status(instance, held) == dg.DagsterRunStatus.STARTED
        assert _holders(instance) == {held}
        os.kill(pid, signal.SIGKILL)
        after = launch("after")
        wait_for("the next run to succeed", lambda: _status(instance, after) in
                 (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE), RUN_TIMEOUT, procs)
        assert _status(instance, after) == dg.DagsterRunStatus.SUCCESS, procs[1].log()
        assert _status(instance, held) == dg.DagsterRunStatus.FAILURE
        assert held not in _holders(instance)  # the dead run's slot was given back, the run record kept

        # 2. an in-process CLI run killed with nobody left to notice: the max runtime (a tag here, 24 h by
        #    default) lets the monitoring daemon fail it, then its slot is freed like any ended run's
        orphan = subprocess.Popen(
            dagster("job", "execute", "-m", LOCATION_MODULE, "-j", "hold", "--tags",
                    json.dumps({"dagster/max_runtime": "20"})),
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        orphan_pid = wait_for("the CLI run to hold the slot", lambda: _new_pid(pid_dir, {pid}), RUN_TIMEOUT, procs)
        assert orphan_pid == orphan.pid  # in-process: the CLI process is the run
        (stuck,) = _holders(instance)
        os.kill(orphan_pid, signal.SIGKILL)
        orphan.wait(30)
        assert _status(instance, stuck) == dg.DagsterRunStatus.STARTED  # nobody reported its death
        last = launch("after")
        wait_for("the run after the orphan to succeed", lambda: _status(instance, last) in
                 (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE), RUN_TIMEOUT, procs)
        assert _status(instance, last) == dg.DagsterRunStatus.SUCCESS, procs[1].log()
        assert _status(instance, stuck) == dg.DagsterRunStatus.FAILURE
        assert stuck not in _holders(instance)

        # nothing was deleted to get here
        assert {r.run_id for r in instance.get_runs()} == {held, after, stuck, last}
        assert not _holders(instance)
    finally:
        if orphan is not None and orphan.poll() is None:
            os.killpg(orphan.pid, signal.SIGKILL)
        if instance is not None:
            instance.dispose()
        for p in reversed(procs):
            p.stop()
