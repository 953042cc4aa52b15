"""Two overlapping backfills, each raw range + warehouse rebuild, in separate processes at once:
both succeed, no DuckDB lock error, and the lake ends up exactly as one run would leave it."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from cashbook.cli.commands_pipeline import init_pools
from cashbook.lake import partition_path
from tests.integration.test_raw_ingestion import pipeline_home

IN_PROCESS = '{"execution": {"config": {"in_process": {}}}}'


def _backfill(env: dict[str, str], start: str, end: str) -> subprocess.Popen:
    dagster = str(Path(sys.executable).with_name("dagster"))
    script = (
        f"{dagster} asset materialize -m pipelines.definitions --select 'group:stripe or group:ledger' "
        f"--partition-range {start}...{end} --config-json '{IN_PROCESS}' && "
        f"{dagster} asset materialize -m pipelines.definitions --select 'not (group:stripe or group:ledger)' "
        f"--config-json '{IN_PROCESS}'"
    )
    return subprocess.Popen(["bash", "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_overlapping_backfills_complete_without_lock_errors(tmp_path: Path, fixtures_dir: Path, pg_url: str) -> None:
    home, settings, env = pipeline_home(tmp_path, fixtures_dir, pg_url)
    init_pools(str(settings.dagster_home))  # what `make ui` (and the runner of `cashbook backfill`) do before any run

    procs = [_backfill(env, "2025-03-01", "2025-03-03"), _backfill(env, "2025-03-02", "2025-03-04")]
    outputs = [p.communicate(timeout=400)[0] for p in procs]
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out[-3000:]
        assert "Could not set lock" not in out and "Conflicting lock" not in out

    counts = {d: pq.read_table(partition_path(home / "lake", "stripe_balance_transactions", d)).num_rows
              for d in (dt.date(2025, 3, 1), dt.date(2025, 3, 2), dt.date(2025, 3, 3), dt.date(2025, 3, 4))}
    assert counts == {dt.date(2025, 3, 1): 1, dt.date(2025, 3, 2): 1, dt.date(2025, 3, 3): 0, dt.date(2025, 3, 4): 0}
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM staging.stg_balance_transactions").fetchone()[0] == 2
    finally:
        con.close()
