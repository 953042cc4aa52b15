"""Benchmark: the admin audit report (issue 13) for 12 months of an account — time and size.

A throw-away database on DATABASE_URL's server is filled with 12 months of synthetic ledger entries (~13 per
customer per year: monthly payments plus some refunds and disputes), admin activity in `audit_log` (2 rows per
customer per year), manual payments with approvals, discrepancy resolutions and parked webhook events. The
report is generated through `AuditReports.generate` (collect in one REPEATABLE READ snapshot, render CSV and
JSON, hash, store), in-process, timed with wall and CPU clocks; peak RSS is the process's VmHWM. A second
generation checks the digests are identical (determinism at size).

    nice -n 10 .venv/bin/python -m tests.bench.bench_audit_report [--customers 2000,50000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg_pool import ConnectionPool

from api.audit import AuditContext, Auditor
from api.services.admin_audit_report import AuditReports
from cashbook.db.migrate import migrate
from tests.bench.report import write_section

FILL_SQL = """
INSERT INTO users (id, stripe_customer_id) SELECT 'u' || c, 'cus_' || c FROM generate_series(1, {n}) c;
INSERT INTO ledger_entries (entry_id, occurred_at, type, amount, currency, stripe_id, customer_id, description)
SELECT 'le_' || c || '_' || m, timestamptz '2025-01-01' + make_interval(months => m, secs => (c * 7919) % 2419200),
       'payment', 1500 + (c % 7) * 1000, CASE WHEN c % 10 = 0 THEN 'eur' ELSE 'usd' END, 'ch_' || c || '_' || m,
       'cus_' || c, 'subscription invoice paid'
FROM generate_series(1, {n}) c, generate_series(0, 11) m;
INSERT INTO ledger_entries (entry_id, occurred_at, type, amount, currency, stripe_id, customer_id)
SELECT 'le_r' || c, timestamptz '2025-06-15' + make_interval(secs => c), CASE WHEN c % 5 = 0 THEN 'dispute'
       ELSE 'refund' END, -1500, 'usd', CASE WHEN c % 5 = 0 THEN 'dp_' ELSE 're_' END || c, 'cus_' || c
FROM generate_series(1, {n}) c WHERE c % 3 = 0;
INSERT INTO audit_log (occurred_at, actor, action, target, outcome, status_code, method, path, query, ip, request_id)
SELECT timestamptz '2025-01-01' + make_interval(secs => (i * 15731) % 31536000), 'ops' || (i % 5),
       'GET /api/admin/payments/discrepancies', NULL, 'allowed', 200, 'GET', '/api/admin/payments/discrepancies',
       'status=open', '10.0.0.' || (i % 250), 'req' || i
FROM generate_series(1, 2 * {n}) i;
INSERT INTO manual_payments (id, user_id, type, amount, currency, reason, status, created_by, created_at,
                             approved_by, approved_at, ledger_entry_id)
SELECT 'mp_' || c, 'u' || c, 'manual_adjustment', 25000, 'usd', 'wire transfer', 'recorded', 'alice',
       timestamptz '2025-03-01' + make_interval(secs => c * 60), 'bob',
       timestamptz '2025-03-01' + make_interval(secs => c * 60 + 3600), 'manual_mp_' || c
FROM generate_series(1, {n}) c WHERE c % 100 = 0;
INSERT INTO analytics.discrepancy_resolutions (discrepancy_id, note, resolved_by, resolved_at, previous_status)
SELECT 'd' || c, 'booked by hand', 'ops', timestamptz '2025-04-01' + make_interval(secs => c * 60), 'open'
FROM generate_series(1, {n}) c WHERE c % 50 = 0;
INSERT INTO webhook_events (id, type, created, payload, status, attempts, last_error, received_at)
SELECT 'evt_' || c, 'payment_intent.succeeded', 1740000000 + c, '{{}}', 'manual_review', 1, 'ManualReview: amount',
       timestamptz '2025-05-01' + make_interval(secs => c * 60)
FROM generate_series(1, {n}) c WHERE c % 200 = 0;
"""


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _auditor() -> Auditor:
    ctx = AuditContext(actor="bench", actor_email=None, method="POST", path="/api/admin/audit/generate", query=None,
                       ip=None, user_agent=None, request_id="bench")
    return Auditor(ctx, SimpleNamespace())


def run(server_url: str, customers: int) -> str:
    name = "cbt_bench_audit_" + uuid.uuid4().hex[:8]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(server_url)
    url = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))
    try:
        migrate(url)
        t0 = time.perf_counter()
        with psycopg.connect(url) as conn:
            conn.execute(FILL_SQL.format(n=customers))
            counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                      for t in ("ledger_entries", "audit_log", "manual_payments", "webhook_events")}
        fill = time.perf_counter() - t0
        with ConnectionPool(url, min_size=1, max_size=2) as pool:
            reports = AuditReports(pool)
            w0, c0 = time.perf_counter(), time.process_time()
            first = reports.generate(dt.date(2025, 1, 1), dt.date(2025, 12, 31), "bench", _auditor(), "csv")
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            second = reports.generate(dt.date(2025, 1, 1), dt.date(2025, 12, 31), "bench", _auditor(), "csv")
            with pool.connection() as conn:
                sizes = conn.execute("SELECT octet_length(csv_body), octet_length(json_body) FROM"
                                     " reconciliation_reports WHERE report_id = %s",
                                     (first["report_id"],)).fetchone()
        same = (first["sha256_csv"], first["sha256_json"]) == (second["sha256_csv"], second["sha256_json"])
        rows = sum(first["counts"].values())
        return (f"| {customers:,} | {counts['ledger_entries']:,} | {rows:,} | {wall:.1f} | {cpu:.1f} |"
                f" {sizes[0] / 2**20:.1f} | {sizes[1] / 2**20:.1f} | {_peak_rss_mib():.0f} | {'yes' if same else 'NO'} |"
                f" {fill:.0f} |")
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", default="2000,50000", help="comma-separated account sizes")
    args = ap.parse_args()
    server = os.environ.get("DATABASE_URL")
    if not server:
        raise SystemExit("set DATABASE_URL to a Postgres server (a throw-away database is created on it)")
    load = os.getloadavg()
    lines = [f"Load average at start: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (shared machine).", "",
             "| customers | ledger rows | report rows | wall s | CPU s | CSV MiB | JSON MiB | peak RSS MiB |"
             " same bytes twice | fill s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for n in (int(x) for x in args.customers.split(",")):
        line = run(server, n)
        print(line, flush=True)
        lines.append(line)
    load = os.getloadavg()
    lines += ["", f"Load average at end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}. Period 2025-01-01..2025-12-31;"
              " report rows = ledger entries + audit rows + manual payments and their approvals + resolutions +"
              " parked webhooks. Rows stream from server-side cursors into both renderings, which are held in memory"
              " and stored in Postgres as bytea: peak RSS grows with their size (see docs/api.md, Admin tools)."]
    write_section("audit_report", "Admin audit report, 12 months (tests/bench/bench_audit_report.py)",
                  "\n".join(lines))


if __name__ == "__main__":
    main()
