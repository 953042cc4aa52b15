"""Benchmark: `GET /api/analytics/dashboard` latency on the published marts of a large account (issue 13).

    nice -n 10 .venv/bin/python -m tests.bench.bench_admin_dashboard [--customers 50000] [--months 24] [--requests 500]

The account is simulated and its marts built exactly as tests/bench/bench_marts.py does (cached under
$CASHBOOK_HOME/bench/), then every mart is published to a fresh Postgres database with the pipeline's publisher
(cashbook.publish). The dashboard also reads `analytics.discrepancies`, `analytics.alerts` and `webhook_events`:
those are filled with synthetic rows in proportion to the account (one open discrepancy per 10 customers,
200 alerts, 20,000 webhook events), since running the reconciliation is not what is measured here.
The API runs under real uvicorn in this process; one client sends sequential requests over loopback HTTP
with an admin token (role checked in Postgres on every request, as in production); latencies are measured
on the client, end to end. Target: p95 < 100 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg

from cashbook.marts.build import MART_TABLES
from cashbook.publish import publish_table


def _database(server: str) -> str:
    name = "bench_dash_" + uuid.uuid4().hex[:8]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    p = urlsplit(server)
    return urlunsplit((p.scheme, p.netloc, "/" + name, p.query, p.fragment))


def _drop(server: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _synthetic_rows(url: str, customers: int) -> dict[str, int]:
    """Discrepancies, alerts and webhook events in proportion to the account (see the module docstring)."""
    n_disc = max(customers // 10, 10)
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO analytics.discrepancies (discrepancy_id, kind, currency, stripe_amount, ledger_amount,"
            " difference, occurred_at, detail, status, first_seen_at, last_seen_at)"
            " SELECT 'd' || g, (ARRAY['amount_mismatch','missing_in_ledger','missing_in_stripe','pending'])[g %% 4 + 1],"
            " (ARRAY['usd','eur','jpy'])[g %% 3 + 1], 1000 + g, 900 + g, 100, now() - g * interval '1 minute',"
            " 'synthetic', CASE WHEN g %% 5 = 0 THEN 'resolved' ELSE 'open' END, now(), now()"
            " FROM generate_series(1, %s) g", (n_disc,))
        conn.execute(
            "INSERT INTO analytics.alerts (rule, dedup_key, scope, severity, status, summary, first_seen_at,"
            " last_seen_at, resolved_at) SELECT 'rule' || g, 'k' || g, 'usd',"
            " (ARRAY['critical','error','warning','info'])[g % 4 + 1], CASE WHEN g % 3 = 0 THEN 'open' ELSE"
            " 'resolved' END, 'synthetic', now() - g * interval '1 hour', now(),"
            " CASE WHEN g % 3 = 0 THEN NULL ELSE now() END FROM generate_series(1, 200) g")
        conn.execute(
            "INSERT INTO webhook_events (id, type, created, payload, status, received_at, processed_at)"
            " SELECT 'evt_' || g, 'invoice.paid', 0, '{}'::jsonb,"
            " CASE WHEN g % 100 = 0 THEN 'pending' WHEN g % 333 = 0 THEN 'manual_review' ELSE 'processed' END,"
            " now() - g * interval '5 seconds', CASE WHEN g % 100 = 0 OR g % 333 = 0 THEN NULL ELSE now() END"
            " FROM generate_series(1, 20000) g")
        conn.execute("ANALYZE")
    return {"discrepancies": n_disc, "alerts": 200, "webhook_events": 20000}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=50_000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()

    from tests.bench.bench_marts import prepare, time_marts

    _export, lake, prep = prepare(args.customers, args.months)
    print(f"data ready in {prep:.1f}s", flush=True)
    t = time.perf_counter()
    _timings, _rows, con = time_marts(lake)
    build_s = time.perf_counter() - t
    bt = con.execute("SELECT count(*) FROM raw.stripe_balance_transactions").fetchone()[0]
    print(f"marts built in {build_s:.1f}s ({bt:,} balance transactions)", flush=True)

    server = os.environ.get("DATABASE_URL")
    if not server:
        from pathlib import Path

        from cashbook.db.embedded import embedded_url

        server = embedded_url(Path(os.environ.get("CASHBOOK_HOME", ".cashbook")) / "pg")
    url = _database(server)
    try:
        from cashbook.db.migrate import migrate

        migrate(url)
        t = time.perf_counter()
        published = {m: publish_table(con, f"marts.{m}", url, f"analytics.{m}") for m in MART_TABLES}
        publish_s = time.perf_counter() - t
        synthetic = _synthetic_rows(url, args.customers)
        print(f"published in {publish_s:.1f}s: {published}", flush=True)
        series, as_of, body = _measure(url, args.requests, args.warmup)
    finally:
        _drop(server, url)

    def q(values: list[float], p: float) -> float:
        s = sorted(values)
        return s[min(len(s) - 1, max(0, round(p * len(s)) - 1))]

    lat = sorted(series["dashboard"])
    p50, p95, p99 = q(lat, 0.50), q(lat, 0.95), q(lat, 0.99)
    load = os.getloadavg()
    currencies = ", ".join(c["currency"] for c in body["currencies"])
    verdict = "met" if p95 < 100 else "NOT met"
    lines = [
        f"Account: {args.customers:,} customers × {args.months} months (simulator seed 42, start 2024-01-01): "
        f"{bt:,} balance transactions; marts built with the pipeline's SQL ({build_s:.1f} s) and published with "
        f"cashbook.publish ({publish_s:.1f} s): " + ", ".join(f"{m} {n:,}" for m, n in published.items()) + ".",
        f"Synthetic API-side rows: {synthetic['discrepancies']:,} discrepancies, {synthetic['alerts']} alerts, "
        f"{synthetic['webhook_events']:,} webhook events.",
        "",
        f"`GET /api/analytics/dashboard?as_of={as_of}` ({currencies}) through uvicorn on loopback, admin token, "
        f"{args.requests} sequential requests after {args.warmup} warm-up, client-side end-to-end latency:",
        "",
        "| p50 | p95 | p99 | mean | max |",
        "|---:|---:|---:|---:|---:|",
        f"| {p50:.1f} ms | {p95:.1f} ms | {p99:.1f} ms | {statistics.fmean(lat):.1f} ms | {lat[-1]:.1f} ms |",
        "",
        f"**Target p95 < 100 ms: {verdict}.** Load average during the run: "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min) on the shared 2-core machine.",
        "",
        "The other analytics routes on the same data (no target; sequential requests after 5 warm-up):",
        "",
        "| route | requests | p50 | p95 | max |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {label} | {len(v)} | {q(v, 0.5):.1f} ms | {q(v, 0.95):.1f} ms | {max(v):.1f} ms |"
              for label, v in series.items() if label != "dashboard"]
    from tests.bench.report import write_section

    write_section("admin_dashboard", "Admin dashboard (GET /api/analytics/dashboard)", "\n".join(lines))


def _series(client: object, path: str, headers: dict[str, str], params: dict[str, str], n: int,
            warmup: int) -> tuple[list[float], dict]:
    """n sequential GETs after `warmup` unmeasured ones; any non-200 answer stops the benchmark."""
    latencies: list[float] = []
    body: dict = {}
    for i in range(warmup + n):
        t = time.perf_counter()
        resp = client.get(path, headers=headers, params=params)  # type: ignore[attr-defined]
        ms = (time.perf_counter() - t) * 1000
        if resp.status_code != 200:
            raise SystemExit(f"{path} answered {resp.status_code}: {resp.text[:300]}")
        if i >= warmup:
            latencies.append(ms)
        body = resp.json()
    return latencies, body


def _measure(url: str, n: int, warmup: int) -> tuple[dict[str, list[float]], str, dict]:
    import httpx

    from api.main import create_app
    from cashbook.billing.tokens import ADMIN_AUDIENCE, mint
    from cashbook.stripe_gateway import GatewayConfig, StripeGateway
    from tests.integration.api_fixtures import JWT_SECRET, api_settings, free_port, serve

    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO users (id, email, is_admin) VALUES ('bench-admin', 'ops@example.com', true)")
        as_of = conn.execute("SELECT max(day) FROM analytics.revenue_daily").fetchone()[0]
    gateway = StripeGateway(GatewayConfig(api_key="sk_test_bench", api_base="http://127.0.0.1:9",
                                          max_network_retries=0))
    app = create_app(api_settings(worker_in_process=False, pool_min=2, pool_max=4), database_url=url,
                     gateway=gateway)
    port = free_port()
    server, thread = serve(app, port)
    headers = {"Authorization": "Bearer " + mint("bench-admin", JWT_SECRET, audience=ADMIN_AUDIENCE, ttl_seconds=600)}
    year = {"from": (as_of - dt.timedelta(days=364)).isoformat(), "to": as_of.isoformat()}
    others = [("revenue (365 days × 3 currencies, one page of 1000)", "/api/analytics/revenue",
               {**year, "granularity": "day", "limit": "1000"}),
              ("revenue (24 months)", "/api/analytics/revenue",
               {"from": (as_of - dt.timedelta(days=730)).isoformat(), "to": as_of.isoformat(), "granularity": "month"}),
              ("transactions (last 30 days)", "/api/analytics/transactions",
               {"from": (as_of - dt.timedelta(days=29)).isoformat(), "to": as_of.isoformat()}),
              ("health", "/api/analytics/health", {}),
              ("alerts (30 days)", "/api/analytics/alerts", {"days": "30"})]
    out: dict[str, list[float]] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            out["dashboard"], body = _series(client, "/api/analytics/dashboard", headers,
                                             {"as_of": as_of.isoformat()}, n, warmup)
            for label, path, params in others:
                out[label], _ = _series(client, path, headers, params, max(n // 5, 20), 5)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
    print(f"{n} requests: p50 {statistics.median(out['dashboard']):.1f} ms", flush=True)
    return out, as_of.isoformat(), body


if __name__ == "__main__":
    main()
