"""The webhook inbox: verify, store keyed by event id, answer fast. Processing is the worker's job.

The request path is kept short because Stripe's deliveries arrive in bursts (issue 7): one HMAC over the
raw bytes, one orjson parse for the four columns we index on, and one autocommit `INSERT … ON CONFLICT DO
NOTHING` on an async pool — no thread hop, no BEGIN/COMMIT pair. The body goes to Postgres as the text Stripe
sent (cast to jsonb there) instead of being re-serialised in Python. The commit is as durable as the server's
`synchronous_commit` (on by default): the 200 is sent after the WAL flush.

Group commit (`InboxWriter`, issue 15): deliveries that arrive while earlier inserts are waiting for their WAL
flush are written together, as one multi-row `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING RETURNING
id` — one statement, one commit, one flush for all of them — and each request is answered once that commit is
durable. Nothing waits on a timer: a batch is whatever queued while the connections were busy, so a lone
delivery is written at once. The profile showed the per-insert psycopg/pool work (~26 % of the API's CPU per
webhook) and Postgres's per-statement and per-commit work competing for the same two cores; batching divides
both by the batch size. Exactly-once is unchanged (the primary key decides); a duplicate inside one batch is
answered as a duplicate; if a batch fails, its rows are retried one by one so one bad row fails only its own
request.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, NamedTuple

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from api.problems import Problem
from cashbook.billing.signature import SignatureError, verify

INSERT_SQL = ("INSERT INTO webhook_events (id, type, created, livemode, payload, request_id)"
              " VALUES (%s, %s, %s, %s, %s::jsonb, %s) ON CONFLICT (id) DO NOTHING")
# unnest keeps array order, so within one statement the first delivery of an id is the one inserted. The arrays
# go in binary (%b): a text-format array quotes and escapes every payload in Python (12 % of the API's CPU).
INSERT_MANY_SQL = ("INSERT INTO webhook_events (id, type, created, livemode, payload, request_id)"
                   " SELECT i, t, c, l, p::jsonb, r"
                   " FROM unnest(%b::text[], %b::text[], %b::bigint[], %b::bool[], %b::text[], %b::text[])"
                   " AS x(i, t, c, l, p, r)"
                   " ON CONFLICT (id) DO NOTHING RETURNING id")


class InboxEvent(NamedTuple):
    """The columns the inbox keys and filters on; the full payload is stored as received."""

    id: str
    type: str
    created: int
    livemode: bool


async def read_capped(content_length: str | None, receive: Receive, limit: int) -> bytes:
    """The raw body from the ASGI `receive`, refused with 413 as soon as it is known to exceed `limit`
    (issue 12, defect 4).

    A declared Content-Length above the limit is refused before one byte is read; a chunked or lying body
    is read in chunks and dropped the moment it passes the limit, so memory per request stays ≤ limit.
    ASGI-level, not a `Request`: the webhook fast path (api/routes/webhooks.py) has no Starlette request.
    """
    if content_length is not None:
        if not (content_length.isascii() and content_length.isdigit()):
            raise Problem(400, "bad_request", "Content-Length is not a number")
        if int(content_length) > limit:
            raise Problem(413, "payload_too_large", f"webhook bodies are limited to {limit} bytes")
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        body += message.get("body", b"")
        if len(body) > limit:
            raise Problem(413, "payload_too_large", f"webhook bodies are limited to {limit} bytes")
        if not message.get("more_body", False):
            return bytes(body)


def parse_verified(payload: bytes, header: str | None, secrets: list[str], tolerance: int) -> InboxEvent:
    """401 for a signature that does not verify (or is stale), 400 for a missing header or bad payload."""
    if not header:
        raise Problem(400, "missing_signature", "Stripe-Signature header is required")
    try:
        verify(payload, header, secrets, tolerance=tolerance)
    except SignatureError as exc:
        raise Problem(401, "bad_signature", str(exc)) from None
    try:
        event: Any = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise Problem(400, "bad_payload", "body is not JSON") from None
    if not isinstance(event, dict):
        raise Problem(400, "bad_payload", "body is not a Stripe event (id, type, created, data.object)")
    event_id, event_type, created, data = event.get("id"), event.get("type"), event.get("created"), event.get("data")
    if not (isinstance(event_id, str) and isinstance(event_type, str) and type(created) is int
            and isinstance(data, dict) and isinstance(data.get("object"), dict)):
        raise Problem(400, "bad_payload", "body is not a Stripe event (id, type, created, data.object)")
    return InboxEvent(event_id, event_type, created, bool(event.get("livemode")))


def open_pool(conninfo: str, min_size: int, max_size: int) -> AsyncConnectionPool:
    """The inbox's own async pool: autocommit, so one insert is one round trip and one durable commit."""
    return AsyncConnectionPool(conninfo, min_size=min_size, max_size=max_size, open=False,
                               kwargs={"autocommit": True}, name="webhook-inbox")


class _Pending(NamedTuple):
    event: InboxEvent
    payload: str
    request_id: str | None
    done: asyncio.Future[bool]


def _by_event_id(p: _Pending) -> str:
    return p.event.id


async def insert_batch(conn: psycopg.AsyncConnection[Any], batch: list[_Pending]) -> set[str]:
    """One `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING` of `batch` in event-id order; the ids inserted.

    Why sorted: an insert that meets a key another transaction is inserting waits for that transaction, and keeps
    what it inserted so far until it commits. Two statements that met each other's ids in opposite orders waited on
    each other until Postgres broke the deadlock after a second and failed one whole batch with 500s (seen once in
    ten duplicate storms, issue 15). Statements that all insert in id order can wait, but never in a cycle. The
    sort is stable: among deliveries of one id the earliest is the one inserted, with its request id, and the one
    `InboxWriter` answers as new."""
    batch = sorted(batch, key=_by_event_id)
    cur = await conn.execute(INSERT_MANY_SQL, (
        [p.event.id for p in batch], [p.event.type for p in batch], [p.event.created for p in batch],
        [p.event.livemode for p in batch], [p.payload for p in batch], [p.request_id for p in batch]))
    return {row[0] for row in await cur.fetchall()}


class InboxWriter:
    """Group commit for webhook intake (module docstring): `await writer.store(...)` is `store(...)`, batched.

    At most `max_inflight` statements run at once (each on its own pool connection); what arrives meanwhile
    queues and goes out as one statement of up to `max_batch` rows when one of them finishes."""

    def __init__(self, pool: AsyncConnectionPool, *, max_inflight: int = 4, max_batch: int = 128) -> None:
        self.pool, self.max_inflight, self.max_batch = pool, max_inflight, max_batch
        self._queue: deque[_Pending] = deque()
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def store(self, event: InboxEvent, payload: bytes, request_id: str | None = None) -> bool:
        """Durable insert; False when the event id was already stored (a duplicate delivery).

        `request_id` is the delivery's request id, kept with the row so the worker logs under it (a duplicate
        keeps the first delivery's id: that is the one whose processing the worker logs)."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(event, payload.decode(), request_id, done))
        self._kick()
        return await done

    def _kick(self) -> None:
        while self._queue and self._inflight < self.max_inflight:
            n = min(len(self._queue), self.max_batch)
            batch = [self._queue.popleft() for _ in range(n)]
            self._inflight += 1
            task = asyncio.get_running_loop().create_task(self._write(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _write(self, batch: list[_Pending]) -> None:
        try:
            if len(batch) == 1:
                await self._write_one(batch[0])
                return
            try:
                async with self.pool.connection() as conn:
                    inserted = await insert_batch(conn, batch)
            except (psycopg.DataError, psycopg.IntegrityError):  # e.g. a payload jsonb refuses: fail only that one
                for p in batch:
                    await self._write_one(p)
                return
            for p in batch:
                new = p.event.id in inserted
                inserted.discard(p.event.id)  # a second delivery of the same id in this batch is a duplicate
                if not p.done.done():
                    p.done.set_result(new)
        except Exception as exc:  # Postgres unreachable, pool timeout: every delivery of the batch gets the error
            for p in batch:
                if not p.done.done():
                    p.done.set_exception(exc)
        except BaseException:  # cancelled (shutdown): nobody may wait forever
            for p in batch:
                if not p.done.done():
                    p.done.set_exception(RuntimeError("inbox writer stopped"))
            raise
        finally:
            self._inflight -= 1
            self._kick()

    async def _write_one(self, p: _Pending) -> None:
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(INSERT_SQL, (p.event.id, p.event.type, p.event.created, p.event.livemode,
                                                      p.payload, p.request_id))
                new = cur.rowcount == 1
        except Exception as exc:
            if not p.done.done():
                p.done.set_exception(exc)
            return
        if not p.done.done():
            p.done.set_result(new)
