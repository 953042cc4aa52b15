"""Webhook workers as processes with threads (`cashbook worker --concurrency`), and `cashbook serve` running the
whole topology: a webhook POSTed to the API (two uvicorn workers) is booked by a separate worker process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from cashbook.billing.signature import sign
from tests.integration.dagster_processes import ROOT, Proc, cashbook, free_port, wait_for

WEBHOOK_SECRET = "whsec_serve_test_" + uuid.uuid4().hex[:8]
JWT_SECRET = "serve-test-jwt-secret-" + uuid.uuid4().hex


def invoice_paid(n: int, amount: int = 4900) -> dict[str, Any]:
    """A minimal `invoice.paid` event in Stripe's shape: the handler books one ledger payment per invoice."""
    now = int(time.time())
    invoice = {"id": f"in_serve_{n:04d}_{uuid.uuid4().hex[:6]}", "object": "invoice", "customer": "cus_serve",
               "amount_paid": amount, "amount_due": amount, "currency": "usd", "status": "paid",
               "attempt_count": 1, "status_transitions": {"paid_at": now}}
    return {"id": "evt_" + uuid.uuid4().hex[:24], "object": "event", "type": "invoice.paid", "created": now,
            "livemode": False, "api_version": "2026-10-28.endive", "data": {"object": invoice}}


def _env(pg_url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "CASHBOOK_", "STRIPE_"))}
    env.update(DATABASE_URL=pg_url, CASHBOOK_HOME=str(home), CASHBOOK_API_ENV="test", JWT_SECRET=JWT_SECRET,
               STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_API_BASE="http://127.0.0.1:9",
               CASHBOOK_API_WORKER_BACKOFF_SECONDS="0", PYTHONWARNINGS="ignore")
    return env


def test_worker_processes_with_threads_book_each_event_once(pg_url: str, tmp_path: Path) -> None:
    env = _env(pg_url, tmp_path / "home")
    migrated = subprocess.run(cashbook("migrate"), env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    events = [invoice_paid(i) for i in range(160)]
    with psycopg.connect(pg_url) as conn:
        for ev in events:
            conn.execute("INSERT INTO webhook_events (id, type, created, payload) VALUES (%s, %s, %s, %s)",
                         (ev["id"], ev["type"], ev["created"], Jsonb(ev)))
    procs = [subprocess.Popen(cashbook("worker", "--once", "--concurrency", "3"), env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    counts = [int(o[0].split()[1]) for o in outs]
    with psycopg.connect(pg_url) as conn:
        rows, distinct = conn.execute("SELECT count(*), count(DISTINCT stripe_id) FROM ledger_entries").fetchone()
        statuses = dict(conn.execute("SELECT status, count(*) FROM webhook_events GROUP BY status").fetchall())
        max_attempts = conn.execute("SELECT max(attempts) FROM webhook_events").fetchone()[0]
    assert rows == distinct == 160
    assert statuses == {"processed": 160} and max_attempts == 1  # SKIP LOCKED: no event claimed twice
    assert sum(counts) == 160


def _children(pid: int) -> set[int]:
    """Direct children of a process, from /proc (Linux)."""
    kids = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            kids.add(int(status.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").exists() and "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()


@pytest.mark.slow
def test_serve_runs_every_part_as_its_own_process_and_stops_them_all(pg_url: str, tmp_path: Path) -> None:
    env = _env(pg_url, tmp_path / "home")
    ui, code, api = free_port(), free_port(), free_port()
    serve = Proc("serve", cashbook("serve", "--ui-port", str(ui), "--code-server-port", str(code), "--api-port",
                                   str(api), "--api-workers", "2", "--worker-concurrency", "2"), env, tmp_path)
    try:
        wait_for("the API", lambda: httpx.get(f"http://127.0.0.1:{api}/healthz", timeout=5).status_code == 200,
                 300, [serve], interval=2)
        wait_for("the Dagster webserver with the code location", lambda: "cashbook" in httpx.post(
            f"http://127.0.0.1:{ui}/graphql", json={"query": "{ repositoriesOrError { ... on RepositoryConnection "
                                                     "{ nodes { location { name } } } } }"}, timeout=30).text,
                 300, [serve], interval=3)
        parts = {}
        for pid in _children(serve.popen.pid):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            parts[pid] = " ".join(a.decode() for a in cmdline if a)
        # each part is its own process; the Dagster ones have exec'd into Dagster's own modules
        expected = ("code-server", "dagster_webserver", "dagster._daemon", " api ", " worker ")
        kinds = {next((k for k in expected if k in f"{cmd} "), cmd) for cmd in parts.values()}
        assert kinds == set(expected), parts
        api_pid = next(pid for pid, cmd in parts.items() if " api " in f"{cmd} ")
        wait_for("two uvicorn workers", lambda: len(_children(api_pid)) >= 2, 120, [serve])

        # a webhook through the API is booked by the separate worker process (the API's own worker is off)
        event = invoice_paid(1, amount=1234)
        body = json.dumps(event).encode()
        resp = httpx.post(f"http://127.0.0.1:{api}/api/webhooks/stripe", content=body, timeout=30, headers={
            "Stripe-Signature": sign(body, WEBHOOK_SECRET, int(time.time())), "Content-Type": "application/json"})
        assert resp.status_code == 200, resp.text

        def booked() -> bool:
            with psycopg.connect(pg_url) as conn:
                row = conn.execute("SELECT amount FROM ledger_entries WHERE stripe_id = %s",
                                   (event["data"]["object"]["id"],)).fetchone()
            return row is not None and row[0] == 1234

        wait_for("the webhook to be booked", booked, 120, [serve])
    finally:
        children = set(_children(serve.popen.pid)) if serve.popen.poll() is None else set()
        if serve.popen.poll() is None:
            os.kill(serve.popen.pid, signal.SIGTERM)
        code_ = serve.popen.wait(120)
        serve.stop()
    assert code_ == 0, serve.log()
    assert children and not any(_alive(pid) for pid in children), serve.log()
