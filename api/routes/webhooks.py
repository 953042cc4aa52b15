"""`POST /api/webhooks/stripe`: verify, store in the inbox, answer 200 fast. No auth (Stripe signs it).

The handler reads the header and the app state directly instead of through FastAPI dependencies and returns
pre-encoded bytes instead of a validated model: per-request framework work was most of the cost next to a
bare endpoint (issue 7). The inbox insert runs on its own async pool, opened by this router's lifespan, through
the group-committing `InboxWriter` (api/services/inbox.py, issue 15). `WebhookFastPath` serves the same
endpoint from inside the app's middlewares without FastAPI's router (issue 15 item 4); the route stays for the
OpenAPI document and for an app built without the fast path. Both call `accept`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from api.openapi import WEBHOOK
from api.problems import Problem, problem_response
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
    """Reached only when the fast path below is not installed; the route also documents the endpoint."""
    return Response(await accept(request.app, request.scope, request.receive), media_type="application/json")


async def accept(app: Any, scope: Scope, receive: Receive) -> bytes:
    """Verify, store, and say whether this delivery was new: the whole endpoint, for both ways in."""
    state = app.state
    signature = length = None
    for name, value in scope["headers"]:
        if name == b"stripe-signature" and signature is None:
            signature = value.decode("latin-1")
        elif name == b"content-length" and length is None:
            length = value.decode("latin-1")
    if not signature:  # checked before the body is read: an unsigned request costs no memory
        raise Problem(400, "missing_signature", "Stripe-Signature header is required")
    payload = await inbox.read_capped(length, receive, state.settings.webhook_max_body_bytes)
    event = inbox.parse_verified(payload, signature, state.webhook_secrets, state.settings.webhook_tolerance_seconds)
    scope_state = scope.setdefault("state", {})
    new = await state.inbox_writer.store(event, payload, scope_state.get("request_id"))
    metrics.WEBHOOKS_RECEIVED.labels("false" if new else "true").inc()
    # on the request's access line (api/observability.py): one log line per delivery, not two
    scope_state["log_fields"] = {"event_id": event.id, "event_type": event.type, "duplicate": not new}
    if new and state.wakeup is not None:
        state.wakeup.set()
    return ACK_NEW if new else ACK_DUPLICATE


class WebhookFastPath:
    """`POST /api/webhooks/stripe` answered from inside the app's own middlewares, without FastAPI's router.

    Installed innermost, so the request still passes the request-id/access-log/metrics, security-header, audit
    and rate-limit middlewares exactly as before, and an unexpected error still reaches the app's 500 handler.
    What it skips is the framework's per-request work below them — the exception middleware, route matching,
    the endpoint wrapper and dependency solving — which was more than half of the API's CPU per delivery
    next to the endpoint's own work (py-spy, issue 15 item 4). `scope["route"]` is set to the documented
    route so metrics and the access line carry the same route template. Every other request, and any other
    method on this path (405 from the router), goes on to the app unchanged.
    """

    def __init__(self, app: ASGIApp, *, route: APIRoute) -> None:
        self.app, self.route = app, route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.route.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        try:
            body = await accept(scope["app"], scope, receive)
        except Problem as exc:
            await problem_response(exc, scope["path"])(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


def install_fast_path(app: FastAPI) -> None:
    """Add `WebhookFastPath` (call before any other middleware, so it is innermost) for `router` as included
    without a further prefix."""
    route = next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is stripe_webhook)
    app.add_middleware(WebhookFastPath, route=route)
