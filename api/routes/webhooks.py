"""`POST /api/webhooks/stripe`: verify, store in the inbox, answer 200 fast. No auth (Stripe signs it).

The handler reads the header and the app state directly instead of through FastAPI dependencies and returns
pre-encoded bytes instead of a validated model: per-request framework work was most of the cost next to a
bare endpoint (issue 7). The inbox insert runs on its own async pool, opened by this router's lifespan, through
the group-committing `InboxWriter` (api/services/inbox.py, issue 15).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response

from api.openapi import WEBHOOK
from api.problems import Problem
from api.schemas.billing import WebhookAck
from api.services import inbox
from cashbook import metrics

ACK_NEW = b'{"received":true,"duplicate":false}'
ACK_DUPLICATE = b'{"received":true,"duplicate":true}'


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs inside the app's lifespan (after the sync pool exists), so it reuses that pool's conninfo."""
    settings = app.state.settings
    pool = inbox.open_pool(app.state.pool.conninfo, settings.pool_min, settings.pool_max)
    await pool.open(wait=True, timeout=30)
    app.state.inbox_pool = pool
    app.state.inbox_writer = inbox.InboxWriter(pool, max_inflight=settings.webhook_insert_inflight)
    try:
        yield
    finally:
        await pool.close()


router = APIRouter(prefix="/api/webhooks", tags=["webhooks"], lifespan=lifespan)

SIGNATURE_HEADER = {"name": "stripe-signature", "in": "header", "required": True,
                    "description": "`t=…,v1=…` as sent by Stripe", "schema": {"type": "string"}}


@router.post("/stripe", response_model=WebhookAck, openapi_extra={"parameters": [SIGNATURE_HEADER]},
             responses=WEBHOOK)
async def stripe_webhook(request: Request) -> Response:
    state = request.app.state
    header = request.headers.get("stripe-signature")
    if not header:  # checked before the body is read: an unsigned request costs no memory
        raise Problem(400, "missing_signature", "Stripe-Signature header is required")
    payload = await inbox.read_capped(request, state.settings.webhook_max_body_bytes)
    event = inbox.parse_verified(payload, header, state.webhook_secrets, state.settings.webhook_tolerance_seconds)
    scope_state = request.scope.get("state", {})
    new = await state.inbox_writer.store(event, payload, scope_state.get("request_id"))
    metrics.WEBHOOKS_RECEIVED.labels("false" if new else "true").inc()
    # on the request's access line (api/observability.py): one log line per delivery, not two
    scope_state["log_fields"] = {"event_id": event.id, "event_type": event.type, "duplicate": not new}
    if new and state.wakeup is not None:
        state.wakeup.set()
    return Response(ACK_NEW if new else ACK_DUPLICATE, media_type="application/json")
