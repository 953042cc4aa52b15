"""Run a command and measure it: wall time, CPU time, and peak resident memory of its whole process tree.

Peak RSS is sampled from /proc every 100 ms and summed over the process and all its descendants (worker
processes included), which is what the machine has to hold; `ru_maxrss` would give only the largest single
process. Linux only, like the rest of the benchmarks.
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Measured:
    started_at: dt.datetime  # UTC, to compare with Dagster's log timestamps
    returncode: int
    wall: float
    cpu: float  # user + system seconds of the tree (children reaped by the end)
    peak_rss_mib: float
    output: str


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(root: int) -> int:
    tree, total, todo = _children(), 0, [root]
    while todo:
        pid = todo.pop()
        total += _rss_kib(pid)
        todo.extend(tree.get(pid, []))
    return total


def run(cmd: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> Measured:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = log.open("w") if log else subprocess.PIPE
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.1):
            peak = max(peak, tree_rss_kib(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    text, _ = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    if log:
        out.close()  # type: ignore[union-attr]
        text = log.read_text(errors="replace")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(started, proc.returncode, wall, cpu, peak / 1024, text or "")


def load_average() -> float:
    return os.getloadavg()[0]
