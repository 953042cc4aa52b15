"""Simulator throughput and peak memory: `python -m tests.bench.bench_simulator` from the repo root.

Each size runs in a fresh child process (so peak RSS is the simulator's own), writes to a temporary
directory that is deleted afterwards, and reports balance transactions per second and peak RSS.
Sizes: BENCH_SIM_SIZES="customers:months,..." (default: about 250k and 1M balance transactions).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.report import write_section

CHILD = """
import json, sys, time
from pathlib import Path
from cashbook.simulator import SimConfig, simulate
t0 = time.perf_counter()
truth = simulate(SimConfig(out=Path(sys.argv[1]), customers=int(sys.argv[2]), months=int(sys.argv[3])))
print(json.dumps({"seconds": time.perf_counter() - t0, "bts": truth.bt_count,
                  "discrepancies": len(truth.discrepancies)}))
"""


def run(customers: int, months: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="bench_sim_"))
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-c", CHILD, str(tmp / "out"), str(customers), str(months)],
                             check=True, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        data = json.loads(res.stdout.strip().splitlines()[-1])
        size = sum(p.stat().st_size for p in (tmp / "out").iterdir())
        with (tmp / "out" / "ledger.csv").open() as fh:
            ledger_rows = sum(1 for _ in fh) - 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"customers": customers, "months": months, "bts": data["bts"], "seconds": data["seconds"],
            "wall": wall, "rate": data["bts"] / data["seconds"], "peak_mib": max(peak_kib, before) / 1024,
            "disk_mib": size / 2**20, "ledger_rows": ledger_rows, "discrepancies": data["discrepancies"]}


def main() -> None:
    spec = os.environ.get("BENCH_SIM_SIZES", "6250:24,25000:24")
    rows = []
    for item in spec.split(","):
        c, m = (int(x) for x in item.split(":"))
        r = run(c, m)
        print(f"{c} customers × {m} months: {r['bts']:,} BTs in {r['seconds']:.1f}s = {r['rate']:,.0f} BT/s, "
              f"peak RSS {r['peak_mib']:.0f} MiB, {r['disk_mib']:.0f} MiB written", flush=True)
        rows.append(r)
    table = ["| customers × months | balance transactions | ledger rows | injected discrepancies | seconds | BT/s "
             "| peak RSS | files on disk |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        table.append(f"| {r['customers']:,} × {r['months']} | {r['bts']:,} | {r['ledger_rows']:,} | "
                     f"{r['discrepancies']:,} | {r['seconds']:.1f} | {r['rate']:,.0f} | {r['peak_mib']:.0f} MiB | "
                     f"{r['disk_mib']:,.0f} MiB |")
    body = ("`cashbook simulate` (seed 42, start 2025-01-01), one child process per size, writing all nine "
            "streams, ledger.csv and truth.json to local disk. Peak RSS is the child's maximum resident set "
            "(it grows with the customer count, not with the number of objects, since every stream is "
            "written as it is generated).\n\n" + "\n".join(table) + "\n")
    write_section("simulator", "Simulator (cashbook simulate)", body)


if __name__ == "__main__":
    main()
