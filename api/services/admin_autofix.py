"""Auto-fix of `missing_in_ledger` discrepancies (issue 13), behind a feature flag (`CASHBOOK_API_AUTOFIX_ENABLED`,
off by default: only the dry-run listing works).

Eligible: an open `missing_in_ledger` discrepancy whose Stripe object belongs to a known user (the charge's
customer is a `users.stripe_customer_id`) and whose webhook never arrived or was parked (`manual_review` or
`failed`). A webhook that was processed or ignored means our own handling decided something: a human looks at
it. A credit purchase of ours is not auto-fixed either: requeuing its parked webhook grants the credits and
writes the ledger row together (`POST /api/admin/webhooks/{id}/requeue`).

The proposal is built from the Stripe object — taken from the parked event's payload, else fetched through the
StripeGateway — as the ledger row the webhook would have written: a charge → `payment` (its ch_ id), a refund →
`refund` (−amount), a dispute → `dispute` (−amount) or `dispute_reversal` (+amount, by the sign of the Stripe
movement), in the object's currency, at its `created` time. Applying goes through the manual-payment path
(`ManualPayments.create`, source `autofix`) with an operation id derived from the discrepancy: applying twice,
or two admins at once, books one row (the manual payment's primary key and `ledger_entries (type, stripe_id)`);
amounts above the approval threshold wait for a second admin like any manual payment; each is audited. The next
reconciliation then finds the ledger row and resolves the discrepancy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from api.audit import Auditor
from api.problems import Problem
from api.schemas.admin import AutofixApplied, AutofixPage, AutofixProposal, ManualPaymentIn
from api.services import admin_cursor
from api.services.admin_payments import ManualPayments
from api.settings import ApiSettings
from cashbook.stripe_gateway import GatewayError, StripeGateway
from cashbook.stripe_shapes import expandable_id

_log = logging.getLogger("cashbook.api.autofix")
CANDIDATES_SQL = (
    "SELECT discrepancy_id, stripe_object_id, currency, stripe_amount, occurred_at FROM analytics.discrepancies"
    " WHERE kind = 'missing_in_ledger' AND status = 'open' AND stripe_object_id IS NOT NULL"
    " AND (%(after)s::text IS NULL OR discrepancy_id > %(after)s)"
    " AND (%(ids)s::text[] IS NULL OR discrepancy_id = ANY(%(ids)s)) ORDER BY discrepancy_id LIMIT %(n)s")
# events that carry the object itself, or a charge/PaymentIntent that names it
EVENTS_SQL = (
    "SELECT id, status, payload -> 'data' -> 'object' AS object FROM webhook_events"
    " WHERE payload #>> '{data,object,id}' = %(id)s OR payload #>> '{data,object,charge}' = %(id)s"
    " OR payload #>> '{data,object,latest_charge}' = %(id)s OR payload #>> '{data,object,latest_charge,id}' = %(id)s"
    " ORDER BY created, id")


class AutoFix:
    def __init__(self, pool: ConnectionPool, settings: ApiSettings, gateway: StripeGateway) -> None:
        self.pool, self.settings, self.gateway = pool, settings, gateway

    # -- proposals ----------------------------------------------------------------------------------------
    def proposals(self, limit: int, cursor: str | None, ids: list[str] | None = None) -> AutofixPage:
        after = admin_cursor.decode(cursor, str)
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(CANDIDATES_SQL, {"after": after and after[0], "ids": ids, "n": limit + 1}).fetchall()
        items = [self._propose(r) for r in rows[:limit]]
        nxt = admin_cursor.encode(rows[limit - 1]["discrepancy_id"]) if len(rows) > limit else None
        return AutofixPage(enabled=self.settings.autofix_enabled, items=items, next_cursor=nxt)

    def _events(self, object_id: str) -> list[dict[str, Any]]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(EVENTS_SQL, {"id": object_id}).fetchall()

    def _object(self, object_id: str, events: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str]:
        """The Stripe object, from a parked event's payload if one carries it, else from Stripe."""
        for e in events:
            if (e["object"] or {}).get("id") == object_id:
                return e["object"], "webhook_payload"
        fetch = {"ch": self.gateway.retrieve_charge, "py": self.gateway.retrieve_charge,
                 "re": self.gateway.retrieve_refund, "dp": self.gateway.retrieve_dispute,
                 "pi": self.gateway.retrieve_payment_intent}.get(object_id.split("_", 1)[0])
        if fetch is None:
            return None, "none"
        try:
            return fetch(object_id), "stripe"
        except GatewayError as exc:
            _log.info("auto-fix: %s not fetched from Stripe: %s", object_id, exc.code)
            return None, "none"

    def _charge_of(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        if obj.get("object") == "charge":
            return obj
        charge = obj.get("charge") or obj.get("latest_charge")
        if isinstance(charge, dict):
            return charge
        if not charge:
            return None
        found, _ = self._object(str(charge), self._events(str(charge)))
        return found

    def _propose(self, d: dict[str, Any]) -> AutofixProposal:
        oid = d["stripe_object_id"]
        base: dict[str, Any] = {"discrepancy_id": d["discrepancy_id"], "stripe_object_id": oid,
                                "stripe_amount": d["stripe_amount"], "discrepancy_currency": d["currency"]}

        def no(reason: str, **extra: Any) -> AutofixProposal:
            return AutofixProposal(**base, **extra, eligible=False, reason=reason)

        events = self._events(oid)
        handled = [e for e in events if e["status"] in ("processed", "ignored")]
        if handled:
            return no("webhook_processed", webhook_event_id=handled[0]["id"])
        if any(e["status"] == "pending" for e in events):
            return no("webhook_pending")
        parked = next((e["id"] for e in events if e["status"] in ("manual_review", "failed")), None)
        obj, source = self._object(oid, events)
        if obj is None:
            return no("stripe_object_unavailable", webhook_event_id=parked)
        charge = self._charge_of(obj)
        meta = {**((charge or {}).get("metadata") or {}), **(obj.get("metadata") or {})}
        customer = expandable_id((charge or obj).get("customer"))
        with self.pool.connection() as conn:
            user = conn.execute("SELECT id FROM users WHERE stripe_customer_id = %s", (customer,)).fetchone() \
                if customer else None
            pi = expandable_id((charge or obj).get("payment_intent")) or (oid if oid.startswith("pi_") else None)
            ours = pi and conn.execute("SELECT 1 FROM payment_attempts WHERE stripe_id = %s", (pi,)).fetchone()
        if user is None:
            return no("unknown_user", webhook_event_id=parked, customer_id=customer)
        if ours or meta.get("operation_id"):
            return no("our_purchase_requeue_webhook", webhook_event_id=parked, user_id=user[0])
        kind = obj.get("object")
        amount = int(obj.get("amount") or 0)
        if kind == "charge":
            type_, stripe_id = "payment", oid
        elif kind == "payment_intent":
            type_, stripe_id = "payment", StripeGateway.latest_charge_id(obj) or oid
        elif kind == "refund":
            type_, stripe_id, amount = "refund", oid, -amount
        elif kind == "dispute":
            reversal = (d["stripe_amount"] or 0) > 0
            type_, stripe_id, amount = ("dispute_reversal", oid, amount) if reversal else ("dispute", oid, -amount)
        else:
            return no("unsupported_object", webhook_event_id=parked)
        created = obj.get("created")
        with self.pool.connection() as conn:
            booked = conn.execute("SELECT entry_id FROM ledger_entries WHERE type = %s AND stripe_id = %s",
                                  (type_, stripe_id)).fetchone()
        if booked:  # fixed already (or the webhook came after all): the next reconciliation resolves it
            return no("already_in_ledger", webhook_event_id=parked, user_id=user[0])
        return AutofixProposal(
            **base, eligible=True, reason=None, source=source, webhook_event_id=parked, user_id=user[0],
            customer_id=customer, type=type_, amount=amount, currency=str(obj.get("currency") or "").lower(),
            stripe_id=stripe_id,
            occurred_at=dt.datetime.fromtimestamp(int(created), dt.UTC) if created else d["occurred_at"])

    # -- apply -----------------------------------------------------------------------------------------------
    def apply(self, ids: list[str], admin_id: str, audit: Auditor, payments: ManualPayments) -> list[AutofixApplied]:
        if not self.settings.autofix_enabled:
            raise Problem(409, "autofix_disabled", "auto-fix is off (CASHBOOK_API_AUTOFIX_ENABLED); the proposals"
                          " are a dry run")
        page = self.proposals(len(ids), None, ids)
        out: list[AutofixApplied] = []
        for p in page.items:
            if not p.eligible:
                out.append(AutofixApplied(discrepancy_id=p.discrepancy_id, applied=False, reason=p.reason))
                continue
            op = hashlib.sha256(f"autofix:{p.discrepancy_id}".encode()).hexdigest()[:32]
            body = ManualPaymentIn.model_construct(
                user_id=p.user_id, amount=p.amount, currency=p.currency, credits=None, stripe_id=p.stripe_id,
                type=p.type, reason=f"auto-fix of {p.discrepancy_id} ({p.source}"
                                    f"{', event ' + p.webhook_event_id if p.webhook_event_id else ''})")
            try:
                mp = payments.create(body, admin_id, audit, op, occurred_at=p.occurred_at, source="autofix",
                                     discrepancy_id=p.discrepancy_id)
            except Problem as exc:
                out.append(AutofixApplied(discrepancy_id=p.discrepancy_id, applied=False, reason=exc.code))
                continue
            out.append(AutofixApplied(discrepancy_id=p.discrepancy_id, applied=mp.status == "recorded",
                                      manual_payment_id=mp.id, status=mp.status,
                                      ledger_entry_id=mp.ledger_entry_id))
        found = {p.discrepancy_id for p in page.items}
        out += [AutofixApplied(discrepancy_id=i, applied=False, reason="not_an_open_missing_in_ledger")
                for i in ids if i not in found]
        return out
