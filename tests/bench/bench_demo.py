"""`make demo` timing: the whole demo (simulate 12 months × 2,000 customers, raw ingestion through Dagster,
warehouse, publish, alerts) on a fresh CASHBOOK_HOME with the embedded Postgres, then the idempotent rerun.

Dependencies are already installed (the target, issue 15: at most 60 s after install). The demo prints its own
wall time and phases (`demo wall time: ...`); this benchmark also times the process from outside.
Run: .venv/bin/python -m tests.bench.bench_demo
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.bench import proc
from tests.bench.report import write_section


def _run(home: Path) -> tuple[float, str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DAGSTER_HOME")}
    env["CASHBOOK_HOME"] = str(home)
    run = proc.run([str(Path(sys.executable).with_name("cashbook")), "demo"], env)
    if run.returncode != 0:
        raise SystemExit(f"demo failed:\n{run.output[-6000:]}")
    return run.wall, run.output, run.cpu


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="cbdemo", dir="/tmp"))  # short: the embedded server's socket lives here
    try:
        load = os.getloadavg()[0]
        cold, out, cold_cpu = _run(home)
        warm, warm_out, warm_cpu = _run(home)
        subprocess.run([str(Path(sys.executable).with_name("cashbook")), "db-stop"],
                       env={**os.environ, "CASHBOOK_HOME": str(home)}, capture_output=True, check=False)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    truth = re.search(r"(\d+)/(\d+) injected discrepancies found, (\d+) unexpected", out)
    raw = re.findall(r"run succeeded: \d+ steps in (\d+) s", out)
    own = re.findall(r"demo wall time: ([0-9.]+) s \((.*)\)", out + "\n" + warm_out)
    phases = "\n".join(f"- {label}: `{text}` (demo's own clock: {secs} s)"
                        for label, (secs, text) in zip(("first run", "second run"), own, strict=False))
    body = f"""
| run | wall time (outside) | CPU s (demo's process tree) | raw ingestion run | warehouse run |
|---|---:|---:|---:|---:|
| first `cashbook demo` (fresh home: initdb, simulate, ingest, warehouse, publish, alerts) | {cold:.0f} s | {cold_cpu:.0f} | {raw[0] if raw else '?'} s | {raw[1] if len(raw) > 1 else '?'} s |
| second run (idempotent: reuses the simulation, rewrites every partition) | {warm:.0f} s | {warm_cpu:.0f} | | |

CPU is user + system time of `cashbook demo` and every process it started and waited for (Dagster runs, export
workers); the embedded Postgres server, a daemon, is not in it. On a shared machine the wall time is mostly the
wait for a core; the CPU column is the part that does not depend on the neighbours.

Phases as the demo prints them:
{phases}

Target: at most 60 s after dependencies are installed (issue 15). Load average (1 min) at start: {load:.2f}.
Reconciliation vs the simulator's truth in that run: {truth.group(0) if truth else 'not printed'}.
"""
    write_section("demo", "make demo (cashbook demo) wall time", body)


if __name__ == "__main__":
    main()
