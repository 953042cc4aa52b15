"""`cashbook worker` is woken by intake's NOTIFY (issue 15), not only by its poll.

The worker runs with a one-hour idle poll, so after its first (empty) look at the inbox only the notification
sent by the intake statement (api/services/inbox.py) can make it process anything; events stored by a plain
INSERT, which notifies nobody, wait for the poll.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

from api.services.inbox import InboxEvent, InboxWriter, open_pool
from cashbook.db.migrate import migrate
from tests.integration.api_fixtures import load_event, wait_until

ROOT = Path(__file__).resolve().parents[2]


def _status(pg_url: str, event_id: str) -> str | None:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT status FROM webhook_events WHERE id = %s", (event_id,)).fetchone()
    return row[0] if row else None


async def _store(pg_url: str, events: list[dict]) -> list[bool]:
    pool = open_pool(pg_url, 1, 2)
    await pool.open(wait=True, timeout=30)
    try:
        writer = InboxWriter(pool)
        return list(await asyncio.gather(*(
            writer.store(InboxEvent(e["id"], e["type"], e["created"], False), json.dumps(e).encode())
            for e in events)))
    finally:
        await pool.close()


def test_intake_wakes_a_worker_whose_poll_is_an_hour(pg_url: str, tmp_path: Path) -> None:
    migrate(pg_url)
    env = dict(os.environ, DATABASE_URL=pg_url, CASHBOOK_HOME=str(tmp_path), STRIPE_API_BASE="http://127.0.0.1:9",
               JWT_SECRET="notify-secret-0123456789abcdef0123", CASHBOOK_API_WORKER_POLL_SECONDS="3600")
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([sys.executable, "-m", "cashbook", "worker", "--concurrency", "2"], env=env, cwd=ROOT,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "worker started" in (tmp_path / "worker.log").read_text(), timeout=60)
        silent = load_event("invoice.paid", object={"id": "in_notify_silent"})
        with psycopg.connect(pg_url) as conn:  # no NOTIFY: stays pending until the (hour-long) poll
            conn.execute("INSERT INTO webhook_events (id, type, created, payload) VALUES (%s, %s, %s, %s::jsonb)",
                         (silent["id"], silent["type"], silent["created"], json.dumps(silent)))
        events = [load_event("invoice.paid", object={"id": f"in_notify_{i}"}) for i in range(3)]
        assert asyncio.run(_store(pg_url, events)) == [True, True, True]
        # the notification wakes the threads: they drain everything due, the silent row included
        for e in [*events, silent]:
            wait_until(lambda e=e: _status(pg_url, e["id"]) == "processed", timeout=60)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()[-2000:]
