"""Raw ingestion from an export through Dagster (issue 15, item 3): one single-run backfill of all nine Stripe
streams and the ledger over 24 months of a ~1M-balance-transaction account, next to the simulator writing the
same account in the same run (the baseline: the rate at which the export itself is produced).

Both run as child processes against a fresh CASHBOOK_HOME with the embedded Postgres, exactly as a user's
`cashbook backfill --no-warehouse` would: `dagster asset materialize --partition-range` in process, the instance's
event log in Postgres, the blocking GX checks on every raw table included. Peak RSS is the whole process tree
(the run and its export workers), sampled from /proc.

Run: .venv/bin/python -m tests.bench.bench_raw_ingestion [--customers 28000] [--months 24]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

from cashbook.cli.commands_pipeline import RAW_SELECTION, demo_window
from cashbook.cli.dagster_runs import IN_PROCESS
from cashbook.lake import existing_days, partition_path
from cashbook.sources.registry import LAKE_TABLES
from tests.bench import proc
from tests.bench.report import write_section

BIN = Path(sys.executable).parent


def _rows_landed(lake: Path) -> dict[str, int]:
    return {t: sum(pq.read_metadata(partition_path(lake, t, d)).num_rows for d in existing_days(lake, t))
            for t in LAKE_TABLES}


def _steps(log: str) -> dict[str, str]:
    return dict(re.findall(r'Finished execution of step "([a-z_]+)" in ([0-9.]+m?s|[0-9]+m[0-9.]+s)', log))


def run_start_after(run: proc.Measured) -> float | None:
    """Seconds from launching the CLI to the run's RUN_START line (Dagster logs whole seconds)."""
    m = re.search(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \+0000 .*RUN_START", run.output, re.M)
    if not m:
        return None
    at = dt.datetime.fromisoformat(m.group(1)).replace(tzinfo=dt.UTC)
    return (at - run.started_at).total_seconds()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=28_000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--keep", action="store_true", help="keep the temporary CASHBOOK_HOME")
    args = ap.parse_args()
    today = dt.datetime.now(dt.UTC).date()
    start, months = demo_window(today, args.months, dt.date(1970, 1, 1))
    last = today - dt.timedelta(days=1)
    home = Path(tempfile.mkdtemp(prefix="cbraw", dir="/tmp"))  # short: the embedded server's socket lives here
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DAGSTER_HOME")}
    env.update(CASHBOOK_HOME=str(home), PARTITION_START=start.isoformat(), PYTHONWARNINGS="ignore")
    load = proc.load_average()
    try:
        export = home / "stripe_export"
        sim = proc.run([str(BIN / "cashbook"), "simulate", "--out", str(export), "--customers", str(args.customers),
                        "--months", str(months), "--seed", "42", "--start", start.isoformat()], env)
        if sim.returncode:
            raise SystemExit(f"simulate failed:\n{sim.output[-3000:]}")
        truth = json.loads((export / "truth.json").read_text())
        bts = truth["balance_transactions"]["count"]
        (home / "ledger").mkdir()
        shutil.move(str(export / "ledger.csv"), home / "ledger" / "ledger.csv")
        export_mib = sum(p.stat().st_size for p in export.iterdir()) / 2**20

        prep = proc.run([str(BIN / "cashbook"), "dagster-home"], env)
        if prep.returncode:
            raise SystemExit(f"dagster-home failed:\n{prep.output[-3000:]}")
        env["DAGSTER_HOME"] = prep.output.strip().splitlines()[-1]
        cmd = [str(BIN / "dagster"), "asset", "materialize", "-m", "pipelines.definitions", "--select", RAW_SELECTION,
               "--config-json", json.dumps(IN_PROCESS), "--partition-range", f"{start}...{last}"]
        run = proc.run(cmd, env, log=home / "raw-run.log")
        if run.returncode:
            raise SystemExit(f"raw run failed:\n{run.output[-5000:]}")
        rows = _rows_landed(home / "lake")
        proc.run([str(BIN / "cashbook"), "db-stop"], env)
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)

    if rows["stripe_balance_transactions"] != bts:
        raise SystemExit(f"landed {rows['stripe_balance_transactions']:,} balance transactions, simulated {bts:,}")
    total = sum(rows.values())
    days = (last - start).days + 1
    steps = _steps(run.output)
    to_start = run_start_after(run)
    sim_rate, run_rate = bts / sim.wall, bts / run.wall
    step_rows = "\n".join(f"| `{k}` | {v} |" for k, v in steps.items())
    body = f"""
Account: {args.customers:,} customers × {months} months ({start}…{last}, {days} daily partitions), simulator seed 42:
{bts:,} balance transactions, {total:,} rows in all ten raw tables, {export_mib:,.0f} MiB of JSONL + ledger CSV.
One `dagster asset materialize --partition-range` run (single-run backfill, in-process executor, Postgres event
log, the ten blocking GX checks included); the simulator writing the same account is the baseline.
Load average (1 min) at start: {load:.2f}.

| | wall s | balance transactions/s | all rows/s | CPU s (tree) | peak RSS (tree) |
|---|---:|---:|---:|---:|---:|
| simulator writes the export (`cashbook simulate`) | {sim.wall:.1f} | {sim_rate:,.0f} | | {sim.cpu:.1f} | {sim.peak_rss_mib:,.0f} MiB |
| raw ingestion through Dagster (`dagster asset materialize`) | {run.wall:.1f} | **{run_rate:,.0f}** | {total / run.wall:,.0f} | {run.cpu:.1f} | {run.peak_rss_mib:,.0f} MiB |

Ingestion / simulator rate: {run_rate / sim_rate:.2f}×. Target: ≥ 10,000 balance transactions/s end to end.
Rows landed per table: {", ".join(f"{t} {n:,}" for t, n in rows.items())}.
Launch to RUN_START (process start, code location, run creation with {10 * days:,} planned partition
events): {f"{to_start:.0f}" if to_start is not None else "?"} s.

| step | Dagster's step time |
|---|---:|
{step_rows}
"""
    write_section("raw_ingestion", "Raw ingestion through Dagster (1M balance transactions, 24 months)", body)


if __name__ == "__main__":
    main()
