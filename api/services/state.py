"""State changes shared by the API endpoints and the webhook handlers, inside the caller's transaction.

Both paths land here so "confirm-payment first, webhook second" and the reverse produce the same rows:
the unique keys on `credit_movements (reason, stripe_id)` and `ledger_entries (type, stripe_id)` make the
second arrival a no-op. Subscription rows carry `state_version` (the Stripe `created` of the newest event
or API read applied) so an older event never overwrites newer state.

Every version is on Stripe's clock, never ours: webhooks use `event.created`, API writes use
`subscription_version` (the newest timestamp Stripe put on the object). Were the API to stamp our own time,
a server clock running ahead of Stripe's would make a genuinely later webhook look stale and drop it. At
equal versions the later arrival applies, so a webhook in the same second as an API write is not dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from cashbook.billing import ledger
from cashbook.logs import get_logger
from cashbook.money import to_major_str
from cashbook.stripe_shapes import (
    expandable_id,
    invoice_subscription_id,
    subscription_period_end,
    subscription_plan_id,
)

_log = get_logger("cashbook.credits")

ACCESS_STATUSES = frozenset({"active", "trialing", "past_due"})


class ManualReview(RuntimeError):
    """Not transient: the event goes to `manual_review` on its first attempt and on-call is paged."""


class AmountMismatch(ManualReview):
    """A PaymentIntent's amount differs from what we priced: never grant, send to manual review."""


class UnmatchedPayment(ManualReview):
    """A PaymentIntent created by us (our metadata) has no payment_attempts row: money arrived that we cannot
    book by ourselves. Never `ignored` (issue 12, defect 2)."""


def ours(pi: dict[str, Any]) -> bool:
    """Created by cashbook: the purchase path always sets these metadata keys."""
    meta = pi.get("metadata") or {}
    return bool(meta.get("operation_id") or meta.get("user_id"))


def lock_object(conn: psycopg.Connection, stripe_id: str) -> None:
    """One writer per Stripe object at a time (several workers, API + worker)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (stripe_id,))


def user_for_customer(conn: psycopg.Connection, customer_id: str | None) -> str | None:
    if not customer_id:
        return None
    row = conn.execute("SELECT id FROM users WHERE stripe_customer_id = %s", (customer_id,)).fetchone()
    return row[0] if row else None


def subscription_version(sub: dict[str, Any]) -> int:
    """The version for an API write of `sub`: the newest of Stripe's own timestamps on the object."""
    stamps = [sub.get(k) for k in ("created", "canceled_at", "ended_at")]
    return max(int(v) for v in stamps if isinstance(v, int | float) and not isinstance(v, bool))


def apply_subscription(conn: psycopg.Connection, sub: dict[str, Any], *, version: int, source: str) -> bool:
    """Upsert a subscription from a Stripe object if `version` is not older than what we hold."""
    sub_id = sub["id"]
    lock_object(conn, sub_id)
    row = conn.execute("SELECT state_version, status FROM subscriptions WHERE id = %s", (sub_id,)).fetchone()
    status = sub.get("status") or "unknown"
    if row is not None:
        held_version, held_status = row
        if version < held_version or (version == held_version and held_status == "canceled" and status != "canceled"):
            conn.execute("INSERT INTO subscription_history (subscription_id, status, source, detail)"
                         " VALUES (%s, %s, %s, %s)",
                         (sub_id, held_status, source, Jsonb({"ignored": "stale", "event_status": status,
                                                               "version": version, "held_version": held_version})))
            return False
    customer = expandable_id(sub.get("customer"))
    user_id = (sub.get("metadata") or {}).get("user_id") or user_for_customer(conn, customer)
    if user_id and not conn.execute("SELECT 1 FROM users WHERE id = %s", (user_id,)).fetchone():
        user_id = None  # an id we never issued: keep the subscription, do not invent a user
    stripe_plan = subscription_plan_id(sub)
    plan = conn.execute("SELECT id FROM plans WHERE stripe_plan_id = %s", (stripe_plan,)).fetchone() if stripe_plan else None
    period_end = subscription_period_end(sub)
    active = status in ("active", "trialing")
    conn.execute(
        "INSERT INTO subscriptions AS s (id, user_id, customer_id, plan_id, status, cancel_at_period_end,"
        " current_period_end, canceled_at, ended_at, state_version)"
        " VALUES (%(id)s, %(user)s, %(cus)s, %(plan)s, %(status)s, %(cape)s, %(pe)s, %(ca)s, %(ea)s, %(v)s)"
        " ON CONFLICT (id) DO UPDATE SET user_id = coalesce(EXCLUDED.user_id, s.user_id),"
        " customer_id = coalesce(EXCLUDED.customer_id, s.customer_id), plan_id = coalesce(EXCLUDED.plan_id, s.plan_id),"
        " status = EXCLUDED.status, cancel_at_period_end = EXCLUDED.cancel_at_period_end,"
        " current_period_end = EXCLUDED.current_period_end, canceled_at = EXCLUDED.canceled_at,"
        " ended_at = EXCLUDED.ended_at, state_version = EXCLUDED.state_version, updated_at = now(),"
        " dunning_attempts = CASE WHEN %(active)s THEN 0 ELSE s.dunning_attempts END,"
        " last_payment_error = CASE WHEN %(active)s THEN NULL ELSE s.last_payment_error END",
        {"id": sub_id, "user": user_id, "cus": customer, "plan": plan[0] if plan else None, "status": status,
         "cape": bool(sub.get("cancel_at_period_end")), "pe": _ts(period_end), "ca": _ts(sub.get("canceled_at")),
         "ea": _ts(sub.get("ended_at")), "v": version, "active": active},
    )
    if row is None or row[1] != status or source.startswith("api:"):
        conn.execute("INSERT INTO subscription_history (subscription_id, status, source, detail) VALUES (%s, %s, %s, %s)",
                     (sub_id, status, source, Jsonb({"cancel_at_period_end": bool(sub.get("cancel_at_period_end")),
                                                      "previous_status": row[1] if row else None})))
    return True


def record_invoice_paid(conn: psycopg.Connection, inv: dict[str, Any], *, version: int, source: str) -> bool:
    """Ledger `payment` for a paid invoice (once per in_ id) and reactivation of a dunning subscription."""

    inv_id = inv["id"]
    lock_object(conn, inv_id)
    customer = expandable_id(inv.get("customer"))
    amount = int(inv.get("amount_paid") or 0)
    currency = inv["currency"]
    paid_at = ((inv.get("status_transitions") or {}).get("paid_at")) or version
    created = False
    if amount > 0:
        created = ledger.record(conn, ledger.Movement("payment", inv_id, amount, currency, ledger.from_unix(paid_at),
                                                      customer, "subscription invoice paid"))
    user_id = user_for_customer(conn, customer)
    conn.execute(
        "INSERT INTO payment_attempts (id, user_id, kind, stripe_id, amount, currency, status, attempt_count)"
        " VALUES (%s, %s, 'invoice', %s, %s, %s, 'succeeded', %s) ON CONFLICT (stripe_id) DO UPDATE"
        " SET status = 'succeeded', attempt_count = greatest(payment_attempts.attempt_count, EXCLUDED.attempt_count),"
        " failure_message = NULL, updated_at = now()",
        (f"inv_{inv_id}", user_id, inv_id, int(inv.get("amount_due") or amount), currency,
         int(inv.get("attempt_count") or 0)))
    sub_id = invoice_subscription_id(inv)
    if sub_id:
        lock_object(conn, sub_id)
        updated = conn.execute(
            "UPDATE subscriptions SET status = 'active', dunning_attempts = 0, next_payment_attempt = NULL,"
            " last_payment_error = NULL, state_version = %s, updated_at = now()"
            " WHERE id = %s AND status IN ('past_due', 'unpaid', 'incomplete') AND state_version <= %s",
            (version, sub_id, version)).rowcount
        if updated:
            conn.execute("INSERT INTO subscription_history (subscription_id, status, source, detail)"
                         " VALUES (%s, 'active', %s, %s)", (sub_id, source, Jsonb({"reactivated_by": inv_id})))
    return created


def record_invoice_failed(conn: psycopg.Connection, inv: dict[str, Any], *, version: int, source: str) -> None:
    """Dunning: past_due with the attempt count; the final failure (no next attempt) is recorded as such."""

    inv_id = inv["id"]
    lock_object(conn, inv_id)
    customer = expandable_id(inv.get("customer"))
    attempts = int(inv.get("attempt_count") or 0)
    next_attempt = inv.get("next_payment_attempt")
    error = "final payment attempt failed" if next_attempt is None else "payment failed, Stripe will retry"
    conn.execute(
        "INSERT INTO payment_attempts (id, user_id, kind, stripe_id, amount, currency, status, attempt_count,"
        " failure_message) VALUES (%s, %s, 'invoice', %s, %s, %s, 'failed', %s, %s) ON CONFLICT (stripe_id) DO UPDATE"
        " SET status = CASE WHEN payment_attempts.status = 'succeeded' THEN 'succeeded' ELSE 'failed' END,"
        " attempt_count = greatest(payment_attempts.attempt_count, EXCLUDED.attempt_count),"
        " failure_message = EXCLUDED.failure_message, updated_at = now()",
        (f"inv_{inv_id}", user_for_customer(conn, customer), inv_id, int(inv.get("amount_due") or 0),
         inv["currency"], attempts, error))
    sub_id = invoice_subscription_id(inv)
    if sub_id:
        lock_object(conn, sub_id)
        updated = conn.execute(
            "UPDATE subscriptions SET status = CASE WHEN status = 'active' THEN 'past_due' ELSE status END,"
            " dunning_attempts = greatest(dunning_attempts, %s), next_payment_attempt = %s,"
            " last_payment_error = %s, state_version = %s, updated_at = now()"
            " WHERE id = %s AND status IN ('active', 'past_due') AND state_version <= %s",
            (attempts, _ts(next_attempt), error, version, sub_id, version)).rowcount
        if updated:
            conn.execute("INSERT INTO subscription_history (subscription_id, status, source, detail)"
                         " VALUES (%s, 'past_due', %s, %s)",
                         (sub_id, source, Jsonb({"invoice": inv_id, "attempt_count": attempts,
                                                 "final": next_attempt is None})))


def grant_credits(conn: psycopg.Connection, pi: dict[str, Any]) -> bool | None:
    """Grant a credit purchase exactly once. None: not our PaymentIntent; False: already granted."""
    pi_id = pi["id"]
    if pi.get("status") != "succeeded":
        return False
    lock_object(conn, pi_id)
    attempt = conn.execute(
        "SELECT id, user_id, credits, amount, currency, pack_id FROM payment_attempts"
        " WHERE stripe_id = %s AND kind = 'credit_purchase'", (pi_id,)).fetchone()
    meta = pi.get("metadata") or {}
    if attempt is None and meta.get("operation_id"):
        # the row is written before Stripe is called; a crash before its stripe_id was stored leaves it keyed
        # by our operation id only, which the PaymentIntent carries in its metadata
        attempt = conn.execute(
            "UPDATE payment_attempts SET stripe_id = %s, updated_at = now() WHERE id = %s AND stripe_id IS NULL"
            " AND kind = 'credit_purchase' AND user_id IS NOT DISTINCT FROM %s"
            " RETURNING id, user_id, credits, amount, currency, pack_id",
            (pi_id, f"cp_{meta['operation_id']}", meta.get("user_id"))).fetchone()
    if attempt is None:
        if ours(pi):
            raise UnmatchedPayment(
                f"{pi_id}: succeeded for user {meta.get('user_id')!r} (operation {meta.get('operation_id')!r},"
                f" {pi.get('amount')} {pi.get('currency')}) but no payment_attempts row matches; nothing granted")
        return None
    _, user_id, credits, amount, currency, pack_id = attempt
    if int(pi["amount"]) != amount or pi["currency"].lower() != currency:
        raise AmountMismatch(f"{pi_id}: Stripe amount {pi['amount']} {pi['currency']} != priced {amount} {currency}")
    inserted = conn.execute(
        "INSERT INTO credit_movements (user_id, delta, reason, stripe_id, payment_intent)"
        " VALUES (%s, %s, 'credit_purchase', %s, %s) ON CONFLICT (reason, stripe_id) DO NOTHING",
        (user_id, credits, pi_id, pi_id)).rowcount
    if not inserted:
        return False
    conn.execute("INSERT INTO credit_balances (user_id, balance) VALUES (%s, %s) ON CONFLICT (user_id) DO UPDATE"
                 " SET balance = credit_balances.balance + EXCLUDED.balance, updated_at = now()", (user_id, credits))
    conn.execute("UPDATE payment_attempts SET status = 'succeeded', failure_message = NULL, updated_at = now()"
                 " WHERE stripe_id = %s", (pi_id,))
    _log.info("credits granted", payment_intent=pi_id, credits=credits, pack_id=pack_id)  # under the caller's ids
    ledger.record(conn, ledger.Movement("credit_purchase", pi_id, amount, currency,
                                        ledger.from_unix(pi.get("created") or time.time()),
                                        expandable_id(pi.get("customer")), f"credit pack {pack_id}"))
    email = conn.execute("SELECT email FROM users WHERE id = %s", (user_id,)).fetchone()
    enqueue_email(conn, f"purchase:{pi_id}", email[0] if email else None, "Your cashbook purchase",
                  f"Thank you: {credits} credit(s) for {to_major_str(amount, currency)} {currency.upper()}"
                  f" were added to your account (payment {pi_id}).")
    return True


def enqueue_email(conn: psycopg.Connection, dedupe_key: str, to_addr: str | None, subject: str, body: str) -> None:
    conn.execute("INSERT INTO email_outbox (dedupe_key, to_addr, subject, body) VALUES (%s, %s, %s, %s)"
                 " ON CONFLICT (dedupe_key) DO NOTHING", (dedupe_key, to_addr, subject, body))


def log_error(conn: psycopg.Connection, source: str, message: str, context: dict[str, Any]) -> None:
    conn.execute("INSERT INTO error_logs (source, message, context) VALUES (%s, %s, %s)",
                 (source, message[:2000], Jsonb(json.loads(json.dumps(context, default=str)))))


def _ts(value: Any) -> dt.datetime | None:
    return ledger.from_unix(value) if value else None
