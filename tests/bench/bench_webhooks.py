"""Webhook endpoint throughput/latency vs. a bare endpoint, and a duplicate-delivery storm (issue 7).

Run: `.venv/bin/python -m tests.bench.bench_webhooks [--runs 3] [--requests 4000] [--tool wrk|httpx]` from
the repo root. Each run starts one uvicorn worker (its own process) against a fresh database on the test
Postgres server (DATABASE_URL or the embedded one under .cashbook/test-pg) and writes all runs' figures into
docs/BENCHMARKS.md.

Load tool: `wrk` (C, one thread, `tests/bench/bench_webhooks_wrk.lua`) when it is on PATH — install it with
`apt-get install -y wrk` (Debian/Ubuntu) — otherwise an asyncio + httpx client in this process. On a 2-core
box a Python load generator competes with uvicorn for CPU, so the table reports the CPU seconds the load tool
and the server each used: the comparison is only fair when the tool's share is small. Both endpoints get the
same requests from the same tool in the same run: identical bodies and `Stripe-Signature` headers, signed
before the clock starts, each event id distinct so every webhook request is a real durable insert.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from cashbook.billing.signature import sign
from tests.bench.report import write_section

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_bench"
EVENT_TEMPLATE = ROOT / "tests" / "fixtures" / "stripe" / "events" / "invoice.paid.json"
WRK_SCRIPT = Path(__file__).with_name("bench_webhooks_wrk.lua")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def bench_app() -> Any:
    """uvicorn factory: the real app plus a bare `{}` endpoint for the baseline, in the same process."""
    from api.main import create_app
    from api.settings import ApiSettings

    settings = ApiSettings(_env_file=None, env="test", stripe_webhook_secret=SECRET,  # type: ignore[call-arg]
                           jwt_secret="bench-jwt-secret-0123456789abcdef",
                           worker_in_process=os.environ["BENCH_WORKER"] == "1", worker_poll_seconds=0.05,
                           rate_limit_enabled=False,  # measures intake throughput, not the limiter
                           pool_min=4, pool_max=16)
    app = create_app(settings, database_url=os.environ["BENCH_DATABASE_URL"])

    @app.post("/bare")
    async def bare() -> dict[str, Any]:
        return {}

    return app


def server_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from cashbook.db.embedded import embedded_url

    home = Path(os.environ.get("CASHBOOK_TEST_PG", ROOT / ".cashbook" / "test-pg"))
    home.mkdir(parents=True, exist_ok=True)
    return embedded_url(home)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process from /proc (the uvicorn server)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Server:
    def __init__(self, db_url: str, worker: bool) -> None:
        self.port = free_port()
        env = dict(os.environ, BENCH_DATABASE_URL=db_url, BENCH_WORKER="1" if worker else "0")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "tests.bench.bench_webhooks:bench_app", "--host",
             "127.0.0.1", "--port", str(self.port), "--workers", "1", "--log-level", "warning", "--no-access-log"],
            cwd=ROOT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("bench server did not start")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def cpu(self) -> float:
        return proc_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


@dataclass(frozen=True)
class LoadResult:
    """One load phase: counts, wall time, latency percentiles (ms) and CPU seconds of tool and server."""

    tool: str
    requests: int
    seconds: float
    p50: float
    p99: float
    non2xx: int
    tool_cpu: float
    server_cpu: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def make_event(invoice_id: str) -> bytes:
    """A real `invoice.paid` payload with a fresh event id; compact JSON, one line (the wrk data format)."""
    event = json.loads(EVENT_TEMPLATE.read_text())
    event["id"] = "evt_" + uuid.uuid4().hex[:24]
    event["data"]["object"]["id"] = invoice_id
    return json.dumps(event, separators=(",", ":")).encode()


def signed(bodies: list[bytes]) -> list[tuple[str, bytes]]:
    """(Stripe-Signature, body) pairs, signed now — before any clock starts (tolerance is 300 s)."""
    now = int(time.time())
    return [(sign(b, SECRET, now), b) for b in bodies]


def load_wrk(server: Server, path: str, reqs: list[tuple[str, bytes]], concurrency: int) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="bench_wrk_") as tmp:
        data = Path(tmp) / "requests.tsv"
        with data.open("wb") as f:
            for sig, body in reqs:
                f.write(sig.encode() + b"\t" + body + b"\n")
        before_tool = resource.getrusage(resource.RUSAGE_CHILDREN)
        before_server = server.cpu()
        proc = subprocess.Popen(
            ["wrk", "-t1", f"-c{concurrency}", "-d120s", "--timeout", "30s", "-s", str(WRK_SCRIPT),
             server.url(path), "--", str(data), str(len(reqs))],
            stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        out: list[str] = []
        for line in proc.stdout:  # wrk sleeps its whole -d unless interrupted: SIGINT once all are answered
            out.append(line)
            if line.startswith("BENCH_DONE"):
                proc.send_signal(signal.SIGINT)
        if proc.wait() != 0:
            raise RuntimeError(f"wrk failed: {''.join(out)}")
        server_cpu = server.cpu() - before_server
        after_tool = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(x for x in out if x.startswith("BENCH_JSON "))
    r = json.loads(line.removeprefix("BENCH_JSON "))
    if r["requests"] != len(reqs) or r["socket_errors"]:
        raise RuntimeError(f"wrk did not complete every request: {r}")
    tool_cpu = (after_tool.ru_utime - before_tool.ru_utime) + (after_tool.ru_stime - before_tool.ru_stime)
    return LoadResult("wrk", r["requests"], r["duration_us"] / 1e6, r["p50_us"] / 1000, r["p99_us"] / 1000,
                      r["non2xx"], tool_cpu, server_cpu)


async def _load_httpx(url: str, reqs: list[tuple[str, bytes]], concurrency: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for r in reqs:
        queue.put_nowait(r)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        async def one() -> None:
            nonlocal errors
            while not queue.empty():
                sig, body = queue.get_nowait()
                headers = {"Content-Type": "application/json", "Stripe-Signature": sig}
                t = time.perf_counter()
                r = await client.post(url, content=body, headers=headers)
                latencies.append((time.perf_counter() - t) * 1000)
                if not 200 <= r.status_code < 300:
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        return time.perf_counter() - start, latencies, errors


def load_httpx(server: Server, path: str, reqs: list[tuple[str, bytes]], concurrency: int) -> LoadResult:
    before_tool = resource.getrusage(resource.RUSAGE_SELF)
    before_server = server.cpu()
    seconds, lat, errors = asyncio.run(_load_httpx(server.url(path), reqs, concurrency))
    server_cpu = server.cpu() - before_server
    after_tool = resource.getrusage(resource.RUSAGE_SELF)
    tool_cpu = (after_tool.ru_utime - before_tool.ru_utime) + (after_tool.ru_stime - before_tool.ru_stime)
    return LoadResult("httpx", len(reqs), seconds, pct(lat, 50), pct(lat, 99), errors, tool_cpu, server_cpu)


def load(tool: str, server: Server, path: str, reqs: list[tuple[str, bytes]], concurrency: int) -> LoadResult:
    return (load_wrk if tool == "wrk" else load_httpx)(server, path, reqs, concurrency)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def count(db: str, sql: str) -> Any:
    with psycopg.connect(db) as conn:
        return conn.execute(sql).fetchone()


def endpoint_run(tool: str, db: str, n_requests: int, concurrency: int) -> tuple[LoadResult, LoadResult, int]:
    """Bare then webhook, same server, same tool, same signed requests; worker off. Returns (bare, hook, stored)."""
    server = Server(db, worker=False)
    try:
        warm = signed([make_event("in_warm") for _ in range(300)])
        load(tool, server, "/bare", warm, concurrency)
        load(tool, server, "/api/webhooks/stripe", warm, concurrency)
        reqs = signed([make_event(f"in_bench_{i}") for i in range(n_requests)])
        bare = load(tool, server, "/bare", reqs, concurrency)
        hook = load(tool, server, "/api/webhooks/stripe", reqs, concurrency)
    finally:
        server.stop()
    stored = count(db, "SELECT count(*) FROM webhook_events"
                       " WHERE payload->'data'->'object'->>'id' LIKE 'in_bench_%'")[0]
    return bare, hook, stored


@dataclass(frozen=True)
class StormResult:
    load: LoadResult
    deliveries: int
    inbox: int
    processed: int
    ledger_rows: int
    ledger_distinct: int
    lag_p50: float
    lag_p99: float
    lag_max: float
    drained_s: float


def storm_run(tool: str, db: str, events: int, copies: int, concurrency: int) -> StormResult:
    """`events` distinct `invoice.paid` events, each delivered `copies` times, shuffled; in-process worker on."""
    bodies = [make_event(f"in_storm_{i:05d}") for i in range(events)]
    deliveries = [b for b in bodies for _ in range(copies)]
    random.Random(7).shuffle(deliveries)
    with psycopg.connect(db, autocommit=True) as conn:  # the endpoint phase's events would be processed first
        conn.execute("TRUNCATE webhook_events, ledger_entries, payment_attempts")
    server = Server(db, worker=True)
    try:
        result = load(tool, server, "/api/webhooks/stripe", signed(deliveries), concurrency)
        storm_end = time.time()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if count(db, "SELECT count(*) FROM webhook_events WHERE status NOT IN ('processed', 'ignored')")[0] == 0:
                break
            time.sleep(0.1)
        drained_s = time.time() - storm_end
    finally:
        server.stop()
    with psycopg.connect(db) as conn:
        inbox, processed = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'processed') FROM webhook_events").fetchone()
        rows, distinct = conn.execute("SELECT count(*), count(DISTINCT stripe_id) FROM ledger_entries").fetchone()
        lag = [float(x) for (x,) in conn.execute(
            "SELECT extract(epoch FROM processed_at - received_at) * 1000 FROM webhook_events").fetchall()]
    return StormResult(result, len(deliveries), inbox, processed, rows, distinct, statistics.median(lag),
                       pct(lag, 99), max(lag), drained_s)


def fresh_db(admin: str) -> tuple[str, str]:
    name = "cbbench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(admin)
    info["dbname"] = name
    return name, psycopg.conninfo.make_conninfo(**info)


def drop_db(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fmt_row(label: str, r: LoadResult) -> str:
    return (f"| {label} | {r.rps:.0f} | {r.p50:.1f} | {r.p99:.1f} | {r.non2xx} | {r.tool_cpu / r.requests * 1e6:.0f}"
            f" | {r.server_cpu / r.requests * 1e6:.0f} |")


def main(runs: int = 3, n_requests: int = 4000, concurrency: int = 8, storm_events: int = 1000,
         storm_copies: int = 10, storm_concurrency: int = 64, tool: str | None = None, write: bool = True) -> None:
    tool = tool or ("wrk" if shutil.which("wrk") else "httpx")
    admin = server_url()
    with psycopg.connect(admin) as conn:
        sync_commit = conn.execute("SHOW synchronous_commit").fetchone()[0]
        fsync = conn.execute("SHOW fsync").fetchone()[0]
    tool_desc = ("wrk 4.1 (one thread, Lua script with pre-signed bodies)" if tool == "wrk"
                 else "asyncio + httpx client in the bench process (wrk not installed: `apt-get install -y wrk`)")
    lines: list[str] = [
        f"Load tool: {tool_desc}. One uvicorn worker (uvloop + httptools), 2 cores shared with other engineers'"
        f" jobs; Postgres synchronous_commit={sync_commit}, fsync={fsync}: every accepted webhook is a durable"
        f" insert. {n_requests} requests per endpoint per run, {concurrency} in flight, distinct event ids,"
        f" after 300 warm-up requests each. µs CPU/req = CPU time of the load tool / of the uvicorn process"
        " per request (Postgres backends not counted).",
        "",
        "| run | load avg (1 min) at start | endpoint | req/s | p50 ms | p99 ms | non-2xx | tool µs CPU/req"
        " | server µs CPU/req |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    summary: list[str] = []
    storms: list[str] = []
    exact = True
    for run in range(1, runs + 1):
        load1 = os.getloadavg()[0]
        name, db = fresh_db(admin)
        try:
            bare, hook, stored = endpoint_run(tool, db, n_requests, concurrency)
            storm = storm_run(tool, db, storm_events, storm_copies, storm_concurrency)
        finally:
            drop_db(admin, name)
        print(f"run {run}: bare {bare}\n        hook {hook}\n        storm {storm}", flush=True)
        lines.append(f"| {run} | {load1:.2f} | " + fmt_row("bare `{}`", bare).removeprefix("| "))
        lines.append(f"| {run} | | " + fmt_row("webhook (verify + insert)", hook).removeprefix("| "))
        ok = "OK" if hook.rps / bare.rps >= 0.25 and hook.p99 < 50 else "MISSED"
        summary.append(f"- run {run}: ratio webhook/bare **{hook.rps / bare.rps:.2f}×** (target ≥ 0.25×),"
                       f" webhook p99 **{hook.p99:.1f} ms** (target < 50 ms) → {ok}; webhook events stored"
                       f" {stored} of {n_requests} sent ({n_requests - stored} lost)")
        lost, duplicated = storm_events - storm.ledger_distinct, storm.ledger_rows - storm.ledger_distinct
        exact &= lost == 0 and duplicated == 0 and storm.ledger_rows == storm_events
        s = storm.load
        storms.append(
            f"| {run} | {s.rps:.0f} | {s.p50:.1f} | {s.p99:.1f} | {s.non2xx} | {storm.inbox} | {storm.processed}"
            f" | {storm.ledger_rows} | {lost} | {duplicated} | {storm.lag_p50:.0f} | {storm.lag_p99:.0f}"
            f" | {storm.lag_max:.0f} | {storm.drained_s:.1f} |")
    lines += ["", *summary, "",
              f"Duplicate storm: {storm_events} distinct `invoice.paid` events × {storm_copies} deliveries"
              f" ({storm_events * storm_copies}), shuffled, {storm_concurrency} in flight, same tool, in-process"
              " worker on (competing for the same process and cores). Processing lag = processed_at − received_at"
              " of each inbox row; drained = seconds after the last delivery until nothing is pending.",
              "",
              "| run | req/s | p50 ms | p99 ms | non-2xx | inbox rows | processed | ledger rows | lost | duplicated"
              " | lag p50 ms | lag p99 ms | lag max ms | drained s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|", *storms]
    if not write:
        print("\n".join(lines))
    else:
        write_section("webhooks", "Billing API webhooks (tests/bench/bench_webhooks.py)", "\n".join(lines))
    assert exact, "exactly-once violated"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--tool", choices=["wrk", "httpx"], default=None)
    ap.add_argument("--storm-events", type=int, default=1000)
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    a = ap.parse_args()
    main(runs=a.runs, n_requests=a.requests, tool=a.tool, storm_events=a.storm_events, write=not a.no_write)
