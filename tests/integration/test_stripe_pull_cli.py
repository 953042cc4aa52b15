"""`cashbook stripe-pull` against the replay server over real HTTP: same partitions as the export reader."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cashbook.lake import partition_path
from cashbook.replay import ReplayServer
from cashbook.replay.synth import write_synthetic_export
from cashbook.sources.export import read_stream
from cashbook.sources.streams import lake_schema

START = dt.date(2025, 5, 1)


def test_stripe_pull_lands_partitions_and_reports_progress(tmp_path: Path) -> None:
    export = tmp_path / "export"
    write_synthetic_export(export, balance_transactions=400, days=2, start=START, seed=9)
    home = tmp_path / "home"
    with ReplayServer(export) as server:
        env = {**os.environ, "CASHBOOK_HOME": str(home), "STRIPE_API_KEY": "sk_test_pull", "STRIPE_API_BASE": server.url}
        proc = subprocess.run([sys.executable, "-m", "cashbook", "stripe-pull", "--start", "2025-05-01",
                               "--end", "2025-05-02", "--streams", "balance_transactions,charges"],
                              env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "requests" in proc.stdout and "retries" in proc.stdout
    for stream in ("balance_transactions", "charges"):
        # The raw assets' lake core: the lake schema, every row in one of the run's days, ordered (created, id).
        expected = read_stream(export, stream)
        days = [pq.read_table(partition_path(home / "lake", f"stripe_{stream}", START + dt.timedelta(days=i)))
                for i in range(2)]
        landed = pa.concat_tables(days)
        assert landed.num_rows == expected.num_rows > 0
        assert landed.schema.remove_metadata() == lake_schema(f"stripe_{stream}")
        assert landed.equals(expected.cast(lake_schema(f"stripe_{stream}")))


def test_stripe_pull_refuses_unknown_stream(tmp_path: Path) -> None:
    env = {**os.environ, "CASHBOOK_HOME": str(tmp_path), "STRIPE_API_KEY": "sk_test_pull"}
    proc = subprocess.run([sys.executable, "-m", "cashbook", "stripe-pull", "--start", "2025-05-01", "--end",
                           "2025-05-02", "--streams", "chargez"], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "chargez" in proc.stderr
