"""Wall time of the wheel-install test (tests/integration/test_wheel_install.py), which runs in `make test`:
build the wheel, pip install it into a new virtualenv, run every command from an unrelated directory.

Recorded because it is the suite's single most expensive test and must fit CI's 90-minute budget with the rest.
Postgres: DATABASE_URL when set, else the embedded server (the test suite's own conftest decides).
Run: .venv/bin/python -m tests.bench.bench_wheel_install
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

from tests.bench.report import write_section

ROOT = Path(__file__).resolve().parents[2]
TEST = "tests/integration/test_wheel_install.py"


def main() -> None:
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", TEST, "-q", "-p", "no:cacheprovider", "--durations=0"],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{TEST} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    phase = dict((p, float(s)) for s, p in re.findall(r"([\d.]+)s (setup|call)\s+" + re.escape(TEST), proc.stdout))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    body = f"""
| what | wall time |
|---|---:|
| whole test (pytest start to end) | {wall:.0f} s |
| build the wheel + `pip install -c constraints.txt` into a new venv (fixture setup) | {phase.get('setup', 0):.0f} s |
| simulate, reconcile, migrate, stripe-replay, dagster-home + `dagster asset materialize`, backfill (3 days + warehouse), alerts, token, api (test body) | {phase.get('call', 0):.0f} s |

CPU time of all processes involved: {cpu:.0f} s. Load average (1 min) at start: {load:.2f} on 2 cores; when
other jobs share them, wall time moves with their load. The install uses pip's normal cache
(not disabled; `--no-compile`, so modules compile on first import); where the package index's responses are
not cached (as on the machine above: `pip cache info` shows 0 HTTP files) every run downloads the wheels.
"""
    write_section("wheel_install", "Wheel install test (tests/integration/test_wheel_install.py)", body)


if __name__ == "__main__":
    main()
