"""Webhook event handlers: one function per Stripe event type, run by the worker inside its transaction.

Each returns 'processed' or 'ignored'. They are safe to run twice (unique keys) and, for the ledger and
subscriptions, in any order (`state_version` on subscriptions; money rows keyed by their Stripe id). Credits
are not: what a refund and a dispute of one purchase take back depends on which is booked first, so a worker
thread books events in claim order (api/services/worker.py). Refunds missing from the payload (newer API
versions drop `charge.refunds`) are re-fetched through the gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from api.services import credits, state
from cashbook.billing import ledger
from cashbook.stripe_gateway import StripeGateway
from cashbook.stripe_shapes import expandable_id

Event = dict[str, Any]


@dataclass
class HandlerContext:
    gateway: StripeGateway | None
    prefetched: dict[str, Any] = field(default_factory=dict)


class NeedsStripe(Exception):
    """The handler needs data from Stripe. Raised inside the worker's transaction, it makes the worker leave
    the transaction, call `fetch(gateway)` with no connection held, and run the handler again with the result
    in `ctx.prefetched[key]` (issue 12, defect 5: never a Stripe call inside a database transaction)."""

    def __init__(self, key: str, fetch: Callable[[StripeGateway], Any]) -> None:
        super().__init__(key)
        self.key, self.fetch = key, fetch


Handler = Callable[[psycopg.Connection, Event, HandlerContext], str]


def _obj(event: Event) -> dict[str, Any]:
    return event["data"]["object"]


def _source(event: Event) -> str:
    return f"event:{event['id']}"


def on_subscription(conn: psycopg.Connection, event: Event, ctx: HandlerContext) -> str:
    applied = state.apply_subscription(conn, _obj(event), version=int(event["created"]), source=_source(event))
    return "processed" if applied else "ignored"


def on_invoice_paid(conn: psycopg.Connection, event: Event, ctx: HandlerContext) -> str:
    # invoice.paid and invoice.payment_succeeded describe the same money: one ledger row per invoice.
    state.record_invoice_paid(conn, _obj(event), version=int(event["created"]), source=_source(event))
    return "processed"


def on_invoice_failed(conn: psycopg.Connection, event: Event, ctx: HandlerContext) -> str:
    state.record_invoice_failed(conn, _obj(event), version=int(event["created"]), source=_source(event))
    return "processed"


def on_payment_intent_succeeded(conn: psycopg.Connection, event: Event, ctx: HandlerContext) -> str:
    granted = state.grant_credits(conn, _obj(event))
    return "ignored" if granted is None else "processed"


def on_payment_intent_failed(conn: psycopg.Connection, event: Event, ctx: HandlerContext) -> str:
    pi = _obj(event)
    error = (pi.get("last_payment_error") or {}).get("message") or "payment failed"
    n = conn.execute("UPDATE payment_attempts SET status = 'failed', failure_message = %s,"
                     " attempt_count = attempt_count + 1, updated_at = now()"
                     " WHERE stripe_id = %s AND status <> 'succeeded'", (error, pi["id"])).rowcount
    return "processed" if n else "ignored"


def on_charge_refunded(conn: psycopg.Connection, event: Event, ctx: HandlerContext) -> str:
    charge = _obj(event)
    refunds_list = charge.get("refunds")
    if isinstance(refunds_list, dict) and not refunds_list.get("has_more"):
        refunds = refunds_list.get("data") or []
    elif f"refunds:{charge['id']}" in ctx.prefetched:
        refunds = ctx.prefetched[f"refunds:{charge['id']}"]
    elif ctx.gateway is not None:
        charge_id = charge["id"]
        raise NeedsStripe(f"refunds:{charge_id}", lambda gateway: gateway.list_refunds(charge_id))
    else:
        raise RuntimeError(f"{charge['id']}: refunds not in payload and no Stripe gateway to fetch them")
    customer = expandable_id(charge.get("customer"))
    for r in refunds:
        if r.get("status") in ("failed", "canceled"):
            continue
        ledger.record(conn, ledger.Movement("refund", r["id"], -int(r["amount"]), r["currency"],
                                            ledger.from_unix(r.get("created") or event["created"]), customer,
                                            f"refund of {charge['id']}"))
    pi_id = expandable_id(charge.get("payment_intent"))
    if pi_id:  # a credit purchase: credits follow the money back, partial refunds too (api/services/credits.py)
        credits.reverse_for_refunds(conn, pi_id, refunds)
    return "processed"


def on_dispute_created(conn: psycopg.Connection, event: Event, ctx: HandlerContext) -> str:
    dp = _obj(event)
    ledger.record(conn, ledger.Movement("dispute", dp["id"], -int(dp["amount"]), dp["currency"],
                                        ledger.from_unix(dp.get("created") or event["created"]), None,
                                        f"dispute on {expandable_id(dp.get('charge'))}"))
    pi_id = expandable_id(dp.get("payment_intent"))
    if pi_id:
        credits.take_back_for_dispute(conn, pi_id, dp["id"])
    return "processed"


def on_dispute_closed(conn: psycopg.Connection, event: Event, ctx: HandlerContext) -> str:
    dp = _obj(event)
    pi_id = expandable_id(dp.get("payment_intent"))
    settled = bool(pi_id) and credits.settle_dispute(conn, pi_id, dp["id"], dp.get("status") == "won")
    if dp.get("status") != "won":
        return "processed" if settled else "ignored"  # lost: the money already left with the dispute row
    ledger.record(conn, ledger.Movement("dispute_reversal", dp["id"], int(dp["amount"]), dp["currency"],
                                        ledger.from_unix(event["created"]), None,
                                        f"dispute won on {expandable_id(dp.get('charge'))}"))
    return "processed"


HANDLERS: dict[str, Handler] = {
    "customer.subscription.created": on_subscription,
    "customer.subscription.updated": on_subscription,
    "customer.subscription.deleted": on_subscription,
    "invoice.paid": on_invoice_paid,
    "invoice.payment_succeeded": on_invoice_paid,
    "invoice.payment_failed": on_invoice_failed,
    "payment_intent.succeeded": on_payment_intent_succeeded,
    "payment_intent.payment_failed": on_payment_intent_failed,
    "charge.refunded": on_charge_refunded,
    "charge.dispute.created": on_dispute_created,
    "charge.dispute.closed": on_dispute_closed,
}


def dispatch(conn: psycopg.Connection, event: Event, ctx: HandlerContext) -> str:
    """Unknown types are stored and acknowledged: 'ignored'."""
    handler = HANDLERS.get(event.get("type", ""))
    return handler(conn, event, ctx) if handler else "ignored"
