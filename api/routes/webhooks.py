"""`POST /api/webhooks/stripe`: verify, store in the inbox, answer 200 fast. No auth (Stripe signs it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from starlette.concurrency import run_in_threadpool

from api.deps import PoolDep, SettingsDep
from api.schemas.billing import WebhookAck
from api.services import inbox

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])


@router.post("/stripe", response_model=WebhookAck,
             responses={400: {"description": "missing header or bad payload"}, 401: {"description": "bad signature"}})
async def stripe_webhook(request: Request, pool: PoolDep, settings: SettingsDep,
                         stripe_signature: Annotated[str | None, Header()] = None) -> WebhookAck:
    payload = await request.body()
    event = inbox.parse_verified(payload, stripe_signature, request.app.state.webhook_secrets,
                                 settings.webhook_tolerance_seconds)
    new = await run_in_threadpool(inbox.store, pool, event)
    if new and request.app.state.wakeup is not None:
        request.app.state.wakeup.set()
    return WebhookAck(received=True, duplicate=not new)
