"""A tiny code location for the run-monitoring test: one job holds the `duckdb` pool slot until killed, the next
needs the same slot. In-process executor, so the run's process is the one holding the slot."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg


@dg.asset(pool="duckdb")
def holds_duckdb_slot() -> None:
    Path(os.environ["POOL_TEST_PID_DIR"], f"{os.getpid()}.pid").write_text(str(os.getpid()))
    time.sleep(900)


@dg.asset(pool="duckdb")
def needs_duckdb_slot() -> int:
    return 1


defs = dg.Definitions(
    assets=[holds_duckdb_slot, needs_duckdb_slot],
    jobs=[
        dg.define_asset_job("hold", selection=[holds_duckdb_slot], executor_def=dg.in_process_executor),
        dg.define_asset_job("after", selection=[needs_duckdb_slot], executor_def=dg.in_process_executor),
    ],
)
