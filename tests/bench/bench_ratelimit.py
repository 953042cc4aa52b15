"""Rate limits under a flood (issue 12): one client floods at ~10× its limit while well-behaved users work.

Run: `.venv/bin/python -m tests.bench.bench_ratelimit [--seconds 20] [--runs 2]` from the repo root (needs
`wrk`: `apt-get install -y wrk`, and Redis on 127.0.0.1:6379 or REDIS_URL). One uvicorn worker (its own
process) serves `GET /api/billing/status` (token check + one Postgres read) with Redis-backed limits; the
client IP comes from X-Forwarded-For, trusted from 127.0.0.1 only (`--forwarded-allow-ips`), so each simulated
client has its own IP without sending traffic anywhere but loopback.

Per run, two phases of the same length: (1) baseline — 20 well-behaved users, each from its own IP, at half
their limit; (2) the same users while one client (one IP, one user) floods at 10× the per-IP limit. Reported:
the well-behaved users' 429 share and latency in both phases, the flood's real rate and 429 share, 5xx count.
Writes its section (`ratelimit`) into docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.bench.bench_webhooks import drop_db, free_port, fresh_db, server_url
from tests.bench.report import write_section

ROOT = Path(__file__).resolve().parents[2]
WRK_SCRIPT = Path(__file__).with_name("bench_ratelimit_wrk.lua")
JWT = "bench-ratelimit-jwt-secret-0123456789"
IP_LIMIT, USER_LIMIT = 20, 10  # per second
USERS, USER_RATE = 20, USER_LIMIT / 2  # well-behaved: 20 users at half their limit (5/s each, 100/s total)
CONNECTIONS = 40  # per wrk process: the pause between requests (C / rate) dominates the latency
FLOOD_RATE = 10 * IP_LIMIT


def bench_app() -> Any:
    """uvicorn factory: the real app with Redis-backed limits (per second, so a short bench sees many windows)."""
    from api.main import create_app
    from api.settings import ApiSettings

    settings = ApiSettings(_env_file=None, env="test", stripe_webhook_secret="whsec_bench", jwt_secret=JWT,  # type: ignore[call-arg]
                           worker_in_process=False, pool_min=2, pool_max=8, rate_limit_enabled=True,
                           rate_limit_ip=f"{IP_LIMIT}/second", rate_limit_user=f"{USER_LIMIT}/second",
                           redis_url=os.environ["BENCH_REDIS_URL"], rate_limit_key_prefix=os.environ["BENCH_PREFIX"])
    return create_app(settings, database_url=os.environ["BENCH_DATABASE_URL"])


@dataclass(frozen=True)
class Phase:
    requests: int
    seconds: float
    ok: int
    limited: int
    server_errors: int
    other: int
    p50: float
    p99: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def limited_share(self) -> float:
        return self.limited / self.requests if self.requests else 0.0


def wrk(url: str, users: list[tuple[str, str]], rate: float, connections: int, seconds: int) -> subprocess.Popen[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as f:
        f.write("".join(f"{tok}\t{ip}\n" for tok, ip in users))
    return subprocess.Popen(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s",
                             str(WRK_SCRIPT), url, "--", f.name, str(rate), str(connections)],
                            stdout=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen[str]) -> Phase:
    out, _ = proc.communicate(timeout=300)
    line = next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))
    r = json.loads(line.removeprefix("BENCH_JSON "))
    if r["socket_errors"]:
        raise RuntimeError(f"wrk socket errors: {r}")
    return Phase(r["requests"], r["duration_us"] / 1e6, r["ok"], r["limited"], r["server_errors"], r["other"],
                 r["p50_us"] / 1000, r["p99_us"] / 1000)


def run_once(seconds: int, redis_url: str) -> tuple[Phase, Phase, Phase]:
    from cashbook.billing.tokens import mint

    admin = server_url()
    name, db = fresh_db(admin)
    prefix = "bench-rl-" + uuid.uuid4().hex[:8]
    port = free_port()
    env = dict(os.environ, BENCH_DATABASE_URL=db, BENCH_REDIS_URL=redis_url, BENCH_PREFIX=prefix)
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "tests.bench.bench_ratelimit:bench_app",
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "warning",
                               "--no-access-log", "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"],
                              cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}/api/billing/status"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("bench server did not start")
            time.sleep(0.1)
        good = [(mint(f"user{i:02d}", JWT), f"10.1.0.{i + 1}") for i in range(USERS)]
        flooder = [(mint("flooder", JWT), "10.66.0.1")]
        httpx.get(url, headers={"Authorization": f"Bearer {good[0][0]}"})  # warm the pool
        baseline = result(wrk(url, good, USERS * USER_RATE, CONNECTIONS, seconds))
        users_p = wrk(url, good, USERS * USER_RATE, CONNECTIONS, seconds)
        flood_p = wrk(url, flooder, FLOOD_RATE, CONNECTIONS, seconds)
        under_flood, flood = result(users_p), result(flood_p)
    finally:
        server.terminate()
        server.wait(timeout=20)
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        drop_db(admin, name)
    return baseline, under_flood, flood


def main(seconds: int = 20, runs: int = 2, write: bool = True) -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    rows, flood_rows, problems = [], [], []
    for run in range(1, runs + 1):
        load1 = os.getloadavg()[0]
        base, users, flood = run_once(seconds, redis_url)
        print(f"run {run}: baseline {base}\n       users under flood {users}\n       flood {flood}", flush=True)
        for label, p in (("well-behaved, alone", base), ("well-behaved, during the flood", users)):
            rows.append(f"| {run} | {load1:.2f} | {label} | {p.requests} | {p.rps:.0f} | {p.limited_share:.2%}"
                        f" | {p.p50:.1f} | {p.p99:.1f} | {p.server_errors} |")
        flood_rows.append(f"| {run} | {flood.requests} | {flood.rps:.0f} ({flood.rps / IP_LIMIT:.1f}× the limit)"
                          f" | {flood.ok} | {flood.limited_share:.1%} | {flood.p50:.1f} | {flood.p99:.1f}"
                          f" | {flood.server_errors} |")
        if users.limited or base.limited or users.server_errors or flood.server_errors or base.server_errors:
            problems.append(f"run {run}: well-behaved 429s {base.limited}/{users.limited}, 5xx "
                            f"{base.server_errors + users.server_errors + flood.server_errors}")
    body = "\n".join([
        f"`GET /api/billing/status` (bearer token + one Postgres read), one uvicorn worker, limits in Redis: per IP"
        f" {IP_LIMIT}/s, per user {USER_LIMIT}/s. {USERS} well-behaved users, each from its own client IP"
        f" (X-Forwarded-For, trusted from 127.0.0.1 only), together at {USERS * USER_RATE:.0f} req/s (half their"
        f" per-user limit); one flooding client (one IP, one user) paced by wrk at {FLOOD_RATE} req/s, 10× the"
        f" per-IP limit (wrk paces each of its {CONNECTIONS} connections; the achieved rates are in the tables)."
        f" Two {seconds} s phases per run: the users alone, then the users during the flood."
        " When other jobs share the machine's 2 cores, compare phases within a run, not runs.",
        "",
        "| run | load avg (1 min) | clients | requests | req/s | 429 share | p50 ms | p99 ms | 5xx |",
        "|---|---|---|---|---|---|---|---|---|", *rows,
        "",
        "Flooding client:",
        "",
        "| run | requests | req/s | served (2xx) | 429 share | p50 ms | p99 ms | 5xx |",
        "|---|---|---|---|---|---|---|---|", *flood_rows,
        "",
        "Result: " + ("no well-behaved request was limited and no request got a 5xx in any run." if not problems
                      else "; ".join(problems)),
    ])
    if write:
        write_section("ratelimit", "API rate limits under a flood (tests/bench/bench_ratelimit.py)", body)
    else:
        print(body)
    assert not problems, problems


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    main(seconds=a.seconds, runs=a.runs, write=not a.no_write)
