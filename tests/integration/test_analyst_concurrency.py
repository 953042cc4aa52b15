"""Analysts and the pipeline never lock each other out (real processes, real Dagster run, real Postgres).

While a warehouse run rebuilds every asset in its own process:
- an analyst process holds one read-only session on the published warehouse.duckdb across the whole run;
- another process opens, queries and closes the file in a loop;
- `cashbook report` is run again and again.
The run must finish without waiting for any lock; no query may fail or see an inconsistent (half-built or
half-swapped) warehouse; the held session keeps the copy it opened, new opens get the new copy after the swap.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from cashbook.cli.commands_pipeline import init_pools
from cashbook.dagster_instance import write_instance_yaml
from cashbook.settings import load_settings
from cashbook.simulator import SimConfig, simulate
from tests.integration.lake_fixtures import land

ROOT = Path(__file__).resolve().parents[2]
WAREHOUSE = "not (group:stripe or group:ledger)"
LOCK_WORDS = ("waiting for the DuckDB lock", "Could not set lock", "Conflicting lock")


def _warehouse_run(env: dict[str, str]) -> subprocess.Popen:
    """The warehouse as the CLI/README launches it, with the job's default executor config."""
    dagster = str(Path(sys.executable).with_name("dagster"))
    return subprocess.Popen([dagster, "asset", "materialize", "-m", "pipelines.definitions", "--select", WAREHOUSE],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _reader(db: Path, mode: str, stop: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.integration.analyst_process", "--db", str(db),
                             "--mode", mode, "--stop", str(stop), "--out", str(out)], cwd=ROOT)


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wait_for_first_record(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not _records(path):
        assert proc.poll() is None, f"reader exited early with {proc.returncode}"
        assert time.monotonic() < deadline, "reader never queried"
        time.sleep(0.2)


@pytest.fixture()
def account(tmp_path: Path, pg_url: str) -> tuple[dict[str, str], Path]:
    export = tmp_path / "export"
    simulate(SimConfig(out=export, customers=60, months=3, seed=3, start=dt.date(2025, 1, 1)))
    home = tmp_path / "home"
    settings = load_settings(cashbook_home=home, database_url=pg_url)
    write_instance_yaml(settings, pg_url)
    init_pools(str(settings.dagster_home))
    env = dict(os.environ, CASHBOOK_HOME=str(home), DAGSTER_HOME=str(settings.dagster_home), DATABASE_URL=pg_url,
               STRIPE_EXPORT_DIR=str(export), LEDGER_CSV_PATHS=str(export / "ledger.csv"), PYTHONWARNINGS="ignore")
    # the account as it was on March 1st: two months; then a first warehouse run publishes it
    land(home / "lake", export, ledger_csv=export / "ledger.csv", before=dt.datetime(2025, 3, 1, tzinfo=dt.UTC))
    from pipelines.definitions import build_definitions

    defs = build_definitions(load_settings(cashbook_home=home, database_url=pg_url, stripe_export_dir=export,
                                           ledger_csv_paths=str(export / "ledger.csv")))
    first = defs.resolve_job_def("warehouse").execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert first.success
    land(home / "lake", export, ledger_csv=export / "ledger.csv")  # the third month lands
    return env, home


def test_analysts_and_a_warehouse_run_never_lock_each_other_out(account: tuple[dict[str, str], Path],
                                                                 tmp_path: Path) -> None:
    env, home = account
    db = home / "warehouse.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        (v1_at, v1_months), = con.execute(
            "SELECT published_at, (SELECT count(*) FROM marts.mrr_month_spine) FROM meta.snapshot").fetchall()
    stop = tmp_path / "stop"
    logs = {mode: tmp_path / f"{mode}.jsonl" for mode in ("session", "reopen")}
    readers = {mode: _reader(db, mode, stop, path) for mode, path in logs.items()}
    reports: list[tuple[float, int, str]] = []
    try:
        for mode, proc in readers.items():
            _wait_for_first_record(logs[mode], proc)

        def report_loop(done: threading.Event) -> None:
            cashbook = str(Path(sys.executable).with_name("cashbook"))
            while not done.is_set():
                p = subprocess.run([cashbook, "report", "--out", str(tmp_path / "reports")], env=env, cwd=ROOT,
                                   capture_output=True, text=True, check=False)
                reports.append((time.time(), p.returncode, p.stdout[-500:] + p.stderr[-1500:]))

        done = threading.Event()
        reporter = threading.Thread(target=report_loop, args=(done,))
        t_start = time.time()
        run = _warehouse_run(env)
        reporter.start()
        out = run.communicate(timeout=900)[0]
        t_end = time.time()
        done.set()
        reporter.join(timeout=120)
        time.sleep(1.0)  # a few more queries after the swap
    finally:
        stop.write_text("stop")
        for proc in readers.values():
            proc.wait(timeout=60)

    # the pipeline side: finished, never waited for a lock
    assert run.returncode == 0, out[-4000:]
    assert not [w for w in LOCK_WORDS if w in out], out[-4000:]

    # the analysts' side: zero failed queries, every copy consistent, queries all through the run
    for mode, path in logs.items():
        records = _records(path)
        failures = [r for r in records if not r["ok"]]
        assert not failures, f"{mode}: {len(failures)} failed queries, first: {failures[0]}"
        assert sum(t_start <= r["t"] <= t_end for r in records) >= 3, f"{mode} barely queried during the run"
    session = _records(logs["session"])
    assert {r["published_at"] for r in session} == {str(v1_at)}  # the held session kept its copy, whole
    reopen = _records(logs["reopen"])
    seen = [r["published_at"] for r in reopen]
    v2_at = seen[-1]
    assert v2_at != str(v1_at) and set(seen) == {str(v1_at), v2_at}  # new opens moved to the new copy ...
    assert seen.index(v2_at) > 0 and all(s == v2_at for s in seen[seen.index(v2_at):])  # ... once, never back
    assert {r["months"] for r in reopen if r["published_at"] == v2_at} == {v1_months + 1}  # with the new month

    # `cashbook report` worked before, during and after the swap
    assert reports and sum(t_start <= t <= t_end for t, _, _ in reports) >= 1
    assert [(rc, text) for _, rc, text in reports if rc != 0] == []
