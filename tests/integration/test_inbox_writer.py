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


def test_batches_meeting_each_other_s_ids_wait_but_never_deadlock(pg_url: str) -> None:
    """Two intake statements that meet each other's ids in opposite orders, forced to interleave: a third
    transaction holds `evt_m` uncommitted, batch A arrives as [b, m, c] and waits on it, batch B arrives as [c, b].
    In arrival order A would hold b and wait on c while B held c and waited on b: a deadlock Postgres breaks after a
    second by failing one batch (it failed 7 deliveries of a duplicate storm with 500s). `insert_batch` writes a
    batch in id order, so both wait their turn and finish."""
    from api.services.inbox import _Pending, insert_batch

    migrate(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DELETE FROM webhook_events WHERE id IN ('evt_b', 'evt_c', 'evt_m')")

    async def blocked(conn: psycopg.AsyncConnection[object], pid: int) -> None:
        for _ in range(500):
            row = await (await conn.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                                            (pid,))).fetchone()
            if row and row[0] == "Lock":
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"backend {pid} never waited on a lock")

    async def scenario() -> tuple[set[str], set[str]]:
        loop = asyncio.get_running_loop()

        def batch(*ids: str) -> list[_Pending]:
            return [_Pending(_event(i)[0], _event(i)[1].decode(), f"req_{i}", loop.create_future()) for i in ids]

        holder = await psycopg.AsyncConnection.connect(pg_url)
        a = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
        b = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
        watch = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
        try:
            await holder.execute("INSERT INTO webhook_events (id, type, created, livemode, payload)"
                                 " VALUES ('evt_m', 'invoice.paid', 1, false, '{}')")
            first = asyncio.create_task(insert_batch(a, batch("evt_b", "evt_m", "evt_c")))
            await blocked(watch, a.info.backend_pid)
            second = asyncio.create_task(insert_batch(b, batch("evt_c", "evt_b")))
            await blocked(watch, b.info.backend_pid)
            await holder.rollback()  # evt_m is free: A finishes, then B finds both of its ids taken
            return await asyncio.wait_for(first, 5), await asyncio.wait_for(second, 5)
        finally:
            for conn in (holder, a, b, watch):
                await conn.close()

    inserted_a, inserted_b = asyncio.run(scenario())
    assert inserted_a == {"evt_b", "evt_c", "evt_m"} and inserted_b == set()
