"""The webhook inbox: verify, store keyed by event id, answer fast. Processing is the worker's job."""

from __future__ import annotations

from typing import Any

import orjson
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from api.problems import Problem
from cashbook.billing.signature import SignatureError, verify


def parse_verified(payload: bytes, header: str | None, secrets: list[str], tolerance: int) -> dict[str, Any]:
    """401 for a signature that does not verify (or is stale), 400 for a missing header or bad payload."""
    if not header:
        raise Problem(400, "missing_signature", "Stripe-Signature header is required")
    try:
        verify(payload, header, secrets, tolerance=tolerance)
    except SignatureError as exc:
        raise Problem(401, "bad_signature", str(exc)) from None
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise Problem(400, "bad_payload", "body is not JSON") from None
    if not (isinstance(event, dict) and isinstance(event.get("id"), str) and isinstance(event.get("type"), str)
            and isinstance(event.get("created"), int) and isinstance((event.get("data") or {}).get("object"), dict)):
        raise Problem(400, "bad_payload", "body is not a Stripe event (id, type, created, data.object)")
    return event


def store(pool: ConnectionPool, event: dict[str, Any]) -> bool:
    """Durable insert; False when the event id was already stored (a duplicate delivery)."""
    with pool.connection() as conn:
        cur = conn.execute(
            "INSERT INTO webhook_events (id, type, created, livemode, payload) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING",
            (event["id"], event["type"], event["created"], bool(event.get("livemode")), Jsonb(event)))
        return cur.rowcount == 1
