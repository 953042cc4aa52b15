"""`cashbook migrate`, `cashbook token` and several `cashbook worker` processes over one inbox."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from cashbook.billing.tokens import ADMIN_AUDIENCE, decode
from tests.integration.api_fixtures import load_event

CLI = [sys.executable, "-c", "from cashbook.cli import main; main()"]


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])


def test_cli_migrate_token_and_parallel_workers(pg_url: str, tmp_path: Path) -> None:
    env = dict(os.environ, DATABASE_URL=pg_url, CASHBOOK_HOME=str(tmp_path), JWT_SECRET="cli-secret-0123456789abcdef0123456",
               STRIPE_API_BASE="http://127.0.0.1:9", CASHBOOK_API_WORKER_BACKOFF_SECONDS="0")
    first = run_cli(["migrate"], env)
    assert first.returncode == 0 and "0001_billing_core" in first.stdout, first.stderr
    assert run_cli(["migrate"], env).stdout.strip() == "up to date"

    tok = run_cli(["token", "--user", "u_cli", "--admin"], env)
    principal = decode(tok.stdout.strip(), "cli-secret-0123456789abcdef0123456", audience=ADMIN_AUDIENCE,
                       max_lifetime_seconds=900)
    assert (principal.user_id, principal.audience) == ("u_cli", ADMIN_AUDIENCE)
    granted = run_cli(["admin-role", "u_cli"], env)
    assert granted.returncode == 0, granted.stderr
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT is_admin FROM users WHERE id = 'u_cli'").fetchone() == (True,)

    events = [load_event("invoice.paid", object={"id": f"in_cli_{i:03d}"}) for i in range(150)]
    with psycopg.connect(pg_url) as conn:
        for ev in events:
            conn.execute("INSERT INTO webhook_events (id, type, created, payload) VALUES (%s, %s, %s, %s)",
                         (ev["id"], ev["type"], ev["created"], Jsonb(ev)))
        conn.execute("INSERT INTO webhook_events (id, type, created, payload) VALUES (%s, 'invoice.paid', 1, %s)",
                     ("evt_broken_" + uuid.uuid4().hex[:6], Jsonb({"id": "x", "type": "invoice.paid",
                                                                  "data": {"object": {"id": "in_bad"}}})))
    procs = [subprocess.Popen([*CLI, "worker", "--once"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=Path(__file__).resolve().parents[2]) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    counts = [int(o[0].split()[1]) for o in outs]
    with psycopg.connect(pg_url) as conn:
        rows, distinct = conn.execute("SELECT count(*), count(DISTINCT stripe_id) FROM ledger_entries").fetchone()
        statuses = dict(conn.execute("SELECT status, count(*) FROM webhook_events GROUP BY status").fetchall())
        # SKIP LOCKED: no event was handled by both processes
        max_attempts = conn.execute("SELECT max(attempts) FROM webhook_events WHERE status = 'processed'").fetchone()[0]
    assert rows == distinct == 150
    assert statuses["processed"] == 150 and max_attempts == 1
    # the broken event (no currency) was retried with zero backoff until manual review, never booked
    assert statuses.get("manual_review") == 1
    assert sum(counts) >= 151  # every claim counted once across both processes


def test_worker_event_pool_commits_without_waiting_for_the_flush_unless_asked(pg_url: str) -> None:
    """The `cashbook worker` event pool's sessions run with synchronous_commit=off (replayable work); the
    setting CASHBOOK_API_WORKER_SYNCHRONOUS_COMMIT=true keeps the server's durable default."""
    from psycopg_pool import ConnectionPool

    from api.services.worker import worker_connection_options
    from api.settings import ApiSettings

    assert ApiSettings.model_fields["worker_synchronous_commit"].default is False
    for durable, expected in ((False, "off"), (True, "on")):
        with ConnectionPool(pg_url, min_size=1, max_size=1, kwargs=worker_connection_options(durable)) as pool, \
                pool.connection() as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone() == (expected,)
