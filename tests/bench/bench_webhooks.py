"""Webhook endpoint throughput/latency vs. a bare endpoint, and a duplicate-delivery storm.

Run: `.venv/bin/python -m tests.bench.bench_webhooks` from the repo root. Starts one uvicorn worker (a
separate process) against a fresh database on the test Postgres server (DATABASE_URL or the embedded one
under .cashbook/test-pg), drives it with an asyncio + httpx load generator, and writes the figures into
docs/BENCHMARKS.md. Sizes are modest on purpose: the machine is shared.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

from cashbook.billing.signature import sign
from tests.bench.report import write_section

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_bench"
EVENT_TEMPLATE = ROOT.parent / "shared" / "stripe" / "events" / "invoice.paid.json"


def bench_app() -> Any:
    """uvicorn factory: the real app plus a bare `{}` endpoint for the baseline, in the same process."""
    from api.main import create_app
    from api.settings import ApiSettings

    settings = ApiSettings(_env_file=None, env="test", stripe_webhook_secret=SECRET,  # type: ignore[call-arg]
                           jwt_secret="bench-jwt-secret-0123456789abcdef",
                           worker_in_process=os.environ["BENCH_WORKER"] == "1", worker_poll_seconds=0.05,
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

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


def make_event(invoice_id: str) -> bytes:
    event = json.loads(EVENT_TEMPLATE.read_text())
    event["id"] = "evt_" + uuid.uuid4().hex[:24]
    event["data"]["object"]["id"] = invoice_id
    return json.dumps(event).encode()


async def load(url: str, bodies: list[bytes], concurrency: int, signed: bool) -> tuple[float, list[float], int]:
    """POST every body with `concurrency` in flight; returns (seconds, latencies in ms, non-2xx count)."""
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        async def one() -> None:
            nonlocal errors
            while not queue.empty():
                body = queue.get_nowait()
                headers = {"Content-Type": "application/json"}
                if signed:
                    headers["Stripe-Signature"] = sign(body, SECRET, int(time.time()))
                t = time.perf_counter()
                r = await client.post(url, content=body, headers=headers)
                latencies.append((time.perf_counter() - t) * 1000)
                if r.status_code >= 300:
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        return time.perf_counter() - start, latencies, errors


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def main(n_requests: int = 4000, concurrency: int = 8, storm_events: int = 1000, storm_copies: int = 10) -> None:
    admin = server_url()
    name = "cbbench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(admin)
    info["dbname"] = name
    db = psycopg.conninfo.make_conninfo(**info)
    load1 = os.getloadavg()[0]
    lines: list[str] = [f"Load average at start: {load1:.2f} (2 cores shared with other engineers' jobs).", ""]
    try:
        # 1) endpoint: bare {} vs. verify + durable insert, same server, same load tool; worker off
        server = Server(db, worker=False)
        try:
            base = f"http://127.0.0.1:{server.port}"
            bodies = [make_event(f"in_bench_{i}") for i in range(n_requests)]
            asyncio.run(load(f"{base}/bare", bodies[:300], concurrency, False))  # warm-up
            asyncio.run(load(f"{base}/api/webhooks/stripe", [make_event("in_warm") for _ in range(300)],
                             concurrency, True))
            bare_s, bare_lat, bare_err = asyncio.run(load(f"{base}/bare", bodies, concurrency, False))
            hook_s, hook_lat, hook_err = asyncio.run(load(f"{base}/api/webhooks/stripe", bodies, concurrency, True))
        finally:
            server.stop()
        bare_rps, hook_rps = n_requests / bare_s, n_requests / hook_s
        with psycopg.connect(db) as conn:
            stored = conn.execute("SELECT count(*) FROM webhook_events WHERE id <> ''").fetchone()[0]
            sync_commit = conn.execute("SHOW synchronous_commit").fetchone()[0]
        lines += [
            f"Endpoint ({n_requests} requests, {concurrency} in flight, one uvicorn worker, httpx asyncio client"
            f" on the same machine; Postgres synchronous_commit={sync_commit}):",
            "",
            "| endpoint | req/s | p50 ms | p99 ms | non-2xx |",
            "|---|---|---|---|---|",
            f"| bare `{{}}` | {bare_rps:.0f} | {pct(bare_lat, 50):.1f} | {pct(bare_lat, 99):.1f} | {bare_err} |",
            f"| webhook (verify + insert) | {hook_rps:.0f} | {pct(hook_lat, 50):.1f} | {pct(hook_lat, 99):.1f}"
            f" | {hook_err} |",
            "",
            f"Ratio webhook/bare: **{hook_rps / bare_rps:.2f}×** (target ≥ 0.25×); webhook p99"
            f" **{pct(hook_lat, 99):.1f} ms** (target < 50 ms). Events stored: {stored}.",
            "",
        ]
        # 2) duplicate storm with the in-process worker on
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("TRUNCATE webhook_events, ledger_entries, payment_attempts")
        server = Server(db, worker=True)
        try:
            base = f"http://127.0.0.1:{server.port}"
            events = [make_event(f"in_storm_{i:05d}") for i in range(storm_events)]
            deliveries = [e for e in events for _ in range(storm_copies)]
            random.Random(7).shuffle(deliveries)
            storm_s, storm_lat, storm_err = asyncio.run(load(f"{base}/api/webhooks/stripe", deliveries, 64, True))
            storm_end = time.time()
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                with psycopg.connect(db) as conn:
                    pending = conn.execute("SELECT count(*) FROM webhook_events WHERE status NOT IN"
                                           " ('processed', 'ignored')").fetchone()[0]
                if pending == 0:
                    break
                time.sleep(0.2)
            drained_s = time.time() - storm_end
        finally:
            server.stop()
        with psycopg.connect(db) as conn:
            n_events, n_processed = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE status = 'processed') FROM webhook_events").fetchone()
            n_rows, n_distinct = conn.execute(
                "SELECT count(*), count(DISTINCT stripe_id) FROM ledger_entries").fetchone()
            lag = [float(x) for (x,) in conn.execute(
                "SELECT extract(epoch FROM processed_at - received_at) * 1000 FROM webhook_events").fetchall()]
        lines += [
            f"Duplicate storm: {storm_events} distinct `invoice.paid` events × {storm_copies} deliveries, shuffled,"
            f" 64 in flight, in-process worker on:",
            "",
            f"- deliveries: {len(deliveries)} in {storm_s:.1f} s = {len(deliveries) / storm_s:.0f} req/s,"
            f" p50 {pct(storm_lat, 50):.1f} ms, p99 {pct(storm_lat, 99):.1f} ms, non-2xx {storm_err}",
            f"- inbox rows {n_events}, processed {n_processed}; ledger rows {n_rows}, distinct Stripe ids"
            f" {n_distinct} → lost {storm_events - n_distinct}, duplicated {n_rows - n_distinct}",
            f"- processing lag (processed_at − received_at): p50 {statistics.median(lag):.0f} ms,"
            f" p99 {pct(lag, 99):.0f} ms, max {max(lag):.0f} ms; backlog drained {drained_s:.1f} s after the"
            f" last delivery",
        ]
        assert n_rows == n_distinct == storm_events, "exactly-once violated"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    write_section("webhooks", "Billing API webhooks (tests/bench/bench_webhooks.py)", "\n".join(lines))


if __name__ == "__main__":
    main()
