"""`InboxWriter` (group commit of webhook intake, issue 15) against real Postgres: what each delivery is told.

Many concurrent deliveries — with duplicates inside one batch and across batches — must store each event id once
and answer `new` exactly once per id; a row Postgres refuses (a NUL escape, which jsonb rejects though orjson
accepts it) fails only its own delivery, not the others that shared its batch.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import psycopg
import pytest

from api.services.inbox import InboxEvent, InboxWriter, open_pool
from cashbook.db.migrate import migrate


def _event(event_id: str, *, nul: bool = False) -> tuple[InboxEvent, bytes]:
    body = {"id": event_id, "type": "invoice.paid", "created": 1_700_000_000, "livemode": False,
            "data": {"object": {"id": "in_" + event_id, "note": "\u0000" if nul else "ok"}}}
    return InboxEvent(event_id, "invoice.paid", 1_700_000_000, False), json.dumps(body).encode()


async def _deliver(pg_url: str, deliveries: list[tuple[InboxEvent, bytes]], inflight: int) -> list[object]:
    pool = open_pool(pg_url, 1, 4)
    await pool.open(wait=True, timeout=30)
    try:
        writer = InboxWriter(pool, max_inflight=inflight)
        return await asyncio.gather(*(writer.store(e, b, f"req_{i}") for i, (e, b) in enumerate(deliveries)),
                                    return_exceptions=True)
    finally:
        await pool.close()


@pytest.mark.parametrize("inflight", [1, 3])
def test_concurrent_duplicates_are_new_exactly_once(pg_url: str, inflight: int) -> None:
    migrate(pg_url)
    ids = [f"evt_{uuid.uuid4().hex[:16]}" for _ in range(40)]
    deliveries = [_event(i) for i in ids for _ in range(5)]
    deliveries = deliveries[::2] + deliveries[1::2]  # copies spread over the queue: same batch and later batches
    answers = asyncio.run(_deliver(pg_url, deliveries, inflight))
    assert all(isinstance(a, bool) for a in answers), answers
    new_per_id: dict[str, int] = {}
    for (event, _), new in zip(deliveries, answers, strict=True):
        new_per_id[event.id] = new_per_id.get(event.id, 0) + int(bool(new))
    assert new_per_id == {i: 1 for i in ids}
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT id, payload->'data'->'object'->>'id', request_id FROM webhook_events").fetchall()
    assert sorted(r[0] for r in rows) == sorted(ids)
    assert all(obj == "in_" + eid and rid and rid.startswith("req_") for eid, obj, rid in rows)


def test_a_refused_row_fails_only_its_own_delivery(pg_url: str) -> None:
    migrate(pg_url)
    good = [_event(f"evt_good_{i}") for i in range(10)]
    bad = _event("evt_bad", nul=True)
    # one statement in flight: everything after the first delivery queues into one batch with the bad row
    answers = asyncio.run(_deliver(pg_url, [good[0], *good[1:5], bad, *good[5:]], inflight=1))
    assert isinstance(answers[5], psycopg.Error)
    assert [a for i, a in enumerate(answers) if i != 5] == [True] * 10
    with psycopg.connect(pg_url) as conn:
        stored = {r[0] for r in conn.execute("SELECT id FROM webhook_events").fetchall()}
    assert stored == {e.id for e, _ in good}
