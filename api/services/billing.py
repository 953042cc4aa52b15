"""Billing use cases. Owns transactions and Stripe calls; raises `Problem` for client-visible errors.

Outgoing Stripe calls carry idempotency keys derived from the operation id (itself derived from the
client's Idempotency-Key), so a retried request never creates a second customer, subscription or charge.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from api.problems import Problem
from api.schemas.billing import (
    CatalogOut,
    ConfirmPaymentOut,
    CreditPackOut,
    HistoryItem,
    HistoryOut,
    PlanOut,
    PurchaseOut,
    StatusOut,
    SubscriptionOut,
)
from api.services import state
from api.services.risk import Card, ClientInfo, assess_attempt, card_of, risk_columns
from api.settings import ApiSettings
from cashbook.billing.risk import Assessment
from cashbook.billing.tokens import Principal
from cashbook.money import to_major_str
from cashbook.stripe_gateway import GatewayError, StripeGateway
from cashbook.stripe_shapes import expandable_id

_CURRENT_SUB_SQL = (
    "SELECT id, plan_id, status, cancel_at_period_end, current_period_end, dunning_attempts FROM subscriptions"
    " WHERE user_id = %s ORDER BY (status IN ('active', 'trialing', 'past_due')) DESC, updated_at DESC LIMIT 1"
)


class BillingService:
    def __init__(self, pool: ConnectionPool, gateway: StripeGateway, settings: ApiSettings,
                 lease_seconds: float, client: ClientInfo | None = None) -> None:
        self.pool, self.gateway, self.settings = pool, gateway, settings
        self.lease_seconds = lease_seconds
        self.client = client or ClientInfo(None)

    # -- risk -----------------------------------------------------------------------------------------
    def _risk(self, conn: psycopg.Connection, user: Principal, amount: int, currency: str,
              card: Card) -> Assessment | None:
        if not self.settings.risk_enabled:
            return None
        return assess_attempt(conn, self.settings.risk_config(), self.settings.risk_first_payment_max,
                              user_id=user.user_id, amount=amount, currency=currency, client=self.client, card=card)

    @staticmethod
    def _blocked() -> Problem:
        # the reasons stay server-side (payment_attempts.risk_reasons): telling them helps the attacker
        return Problem(402, "payment_blocked", "this payment cannot be accepted; contact support if you believe"
                       " this is a mistake")

    # -- users and customers ---------------------------------------------------------------------
    def ensure_user(self, user: Principal, conn: psycopg.Connection | None = None) -> None:
        with _use(self.pool, conn) as c:
            # the role is never taken from a token: new users are not admins (cashbook admin-role grants it)
            c.execute("INSERT INTO users (id, email) VALUES (%s, %s) ON CONFLICT (id) DO UPDATE"
                      " SET email = coalesce(EXCLUDED.email, users.email)", (user.user_id, user.email))

    def _customer(self, user: Principal, payment_method: str | None) -> str:
        """The user's Stripe customer: created once, outside any transaction, its id committed at once.

        Never inside a transaction that may roll back (a declined card used to roll back the stored id, and
        the next attempt replayed the Stripe idempotency key with other parameters: 24 h of idempotency
        errors, then a duplicate customer — issue 12, defect 3). The creation parameters are only the user id
        and e-mail, and the key names both, so a key is never replayed with other parameters; the payment
        method is attached in separate calls keyed by the method.
        """
        self.ensure_user(user)
        with self.pool.connection() as c:
            row = c.execute("SELECT stripe_customer_id FROM users WHERE id = %s", (user.user_id,)).fetchone()
        customer = row[0] if row else None
        if not customer:
            email_tag = hashlib.sha256((user.email or "").encode()).hexdigest()[:16]
            cus = self.gateway.create_customer(user_id=user.user_id, email=user.email,
                                               idempotency_key=f"customer:{user.user_id}:{email_tag}")
            with self.pool.connection() as c:
                c.execute("UPDATE users SET stripe_customer_id = coalesce(stripe_customer_id, %s) WHERE id = %s",
                          (cus["id"], user.user_id))
                customer = c.execute("SELECT stripe_customer_id FROM users WHERE id = %s",
                                     (user.user_id,)).fetchone()[0]
        if payment_method:
            self.gateway.set_default_payment_method(customer, payment_method,
                                                    f"pm:{user.user_id}:{customer}:{payment_method}")
        return customer

    def _payment_method(self, given: str | None) -> str | None:
        return given or self.settings.default_payment_method

    # -- catalog ------------------------------------------------------------------------------------
    def catalog(self) -> CatalogOut:
        with self.pool.connection() as conn:
            plans = conn.execute("SELECT id, name, amount, currency, interval FROM plans WHERE active ORDER BY amount, id").fetchall()
            packs = conn.execute("SELECT id, name, credits, amount, currency FROM credit_packs WHERE active"
                                 " ORDER BY amount, id").fetchall()
        return CatalogOut(
            plans=[PlanOut(id=p[0], name=p[1], amount=p[2], amount_display=to_major_str(p[2], p[3]), currency=p[3],
                           interval=p[4]) for p in plans],
            credit_packs=[CreditPackOut(id=c[0], name=c[1], credits=c[2], amount=c[3],
                                        amount_display=to_major_str(c[3], c[4]), currency=c[4]) for c in packs])

    # -- subscriptions ------------------------------------------------------------------------------
    def create_subscription(self, user: Principal, plan_id: str, payment_method: str | None, op: str) -> SubscriptionOut:
        """Claim, call Stripe with no connection held, write: three steps, two short transactions.

        Two requests with different Idempotency-Keys must not both create a Stripe subscription (double
        billing). The first short transaction checks "already subscribed" and inserts a per-user claim row
        under a per-user advisory lock, and commits; a concurrent request finds the claim (409
        `subscription_in_progress`) or, once the first has finished, the subscription (409
        `already_subscribed`). Stripe is then called with no database connection, transaction or lock held, so
        a slow Stripe cannot starve the pool (issue 12, defect 5). The second transaction (same lock) writes the
        subscription and deletes the claim. A claim left by a dead process expires after the lease, which is
        longer than the worst-case Stripe call chain (`ApiSettings.lease_seconds`).
        """
        self.ensure_user(user)
        pm = self._payment_method(payment_method)
        card = card_of(self.gateway, pm)  # a read, before anything is created at Stripe
        attempt_id = f"sub_{op}"
        blocked = False
        with self.pool.connection() as conn, conn.transaction():
            _lock_user(conn, user.user_id)
            plan = conn.execute("SELECT stripe_plan_id, name, amount, currency, interval FROM plans"
                                " WHERE id = %s AND active", (plan_id,)).fetchone()
            current = conn.execute(_CURRENT_SUB_SQL, (user.user_id,)).fetchone()
            if plan is None:
                raise Problem(404, "unknown_plan", f"no active plan {plan_id!r}")
            if current and current[2] in state.ACCESS_STATUSES:
                raise Problem(409, "already_subscribed", "the user already has an active subscription",
                              subscription_id=current[0])
            claimed = conn.execute(
                "INSERT INTO subscription_claims (user_id, operation_id, plan_id, expires_at) VALUES (%s, %s, %s,"
                " clock_timestamp() + make_interval(secs => %s)) ON CONFLICT (user_id) DO UPDATE SET"
                " operation_id = EXCLUDED.operation_id, plan_id = EXCLUDED.plan_id, claimed_at = clock_timestamp(),"
                " expires_at = EXCLUDED.expires_at WHERE subscription_claims.expires_at < clock_timestamp()"
                " OR subscription_claims.operation_id = EXCLUDED.operation_id RETURNING operation_id",
                (user.user_id, op, plan_id, self.lease_seconds)).fetchone()
            if claimed is None:
                raise Problem(409, "subscription_in_progress",
                              "a subscription is already being created for this user; retry shortly")
            risk = self._risk(conn, user, plan[2], plan[3], card)
            blocked = risk is not None and risk.decision == "block"
            cols = risk_columns(risk, self.client, card)
            conn.execute(
                "INSERT INTO payment_attempts (id, user_id, kind, amount, currency, status, risk_score, risk_decision,"
                " risk_reasons, client_ip, ip_country, card_fingerprint, card_country) VALUES (%(id)s, %(user)s,"
                " 'subscription', %(amount)s, %(currency)s, %(status)s, %(risk_score)s, %(risk_decision)s,"
                " %(risk_reasons)s, %(client_ip)s, %(ip_country)s, %(card_fingerprint)s, %(card_country)s)"
                " ON CONFLICT (id) DO NOTHING",
                {"id": attempt_id, "user": user.user_id, "amount": plan[2], "currency": plan[3],
                 "status": "blocked" if blocked else "creating", **cols})
            if blocked:
                conn.execute("DELETE FROM subscription_claims WHERE user_id = %s AND operation_id = %s",
                             (user.user_id, op))
        if blocked:
            raise self._blocked()
        try:
            customer = self._customer(user, pm)
            stripe_plan, name, amount, currency, interval = plan
            self.gateway.ensure_plan(stripe_plan, amount=amount, currency=currency, interval=interval, name=name)
            sub = self.gateway.create_subscription(
                customer_id=customer, stripe_plan_id=stripe_plan,
                metadata={"user_id": user.user_id, "plan_id": plan_id, "operation_id": op},
                idempotency_key=f"subscription:{op}")
            invoice = None
            inv_id = expandable_id(sub.get("latest_invoice"))
            if inv_id:
                invoice = (sub["latest_invoice"] if isinstance(sub["latest_invoice"], dict)
                           else self.gateway.retrieve_invoice(inv_id))
        except BaseException as exc:
            with self.pool.connection() as conn:
                conn.execute("DELETE FROM subscription_claims WHERE user_id = %s AND operation_id = %s",
                             (user.user_id, op))
                if isinstance(exc, GatewayError) and (exc.status < 500 or exc.code == "stripe_circuit_open"):
                    conn.execute("UPDATE payment_attempts SET status = 'failed', failure_message = %s,"
                                 " updated_at = now() WHERE id = %s", (exc.code, attempt_id))
            raise
        with self.pool.connection() as conn, conn.transaction():
            _lock_user(conn, user.user_id)
            version = state.subscription_version(sub)  # Stripe's clock, not ours (docs/api.md, Ordering)
            state.apply_subscription(conn, sub, version=version, source=f"api:create:{op}")
            if invoice and invoice.get("status") == "paid":
                state.record_invoice_paid(conn, invoice, version=version, source=f"api:create:{op}")
            conn.execute("DELETE FROM subscription_claims WHERE user_id = %s AND operation_id = %s",
                         (user.user_id, op))
            conn.execute("UPDATE payment_attempts SET stripe_id = %s, status = %s, updated_at = now() WHERE id = %s"
                         " AND (stripe_id IS NULL OR stripe_id = %s)",
                         (sub["id"], sub.get("status") or "unknown", attempt_id, sub["id"]))
        return self._subscription_out(sub["id"])

    def cancel_subscription(self, user: Principal, immediately: bool, op: str) -> SubscriptionOut:
        with self.pool.connection() as conn:
            current = conn.execute(_CURRENT_SUB_SQL, (user.user_id,)).fetchone()
        if current is None or current[2] not in state.ACCESS_STATUSES:
            raise Problem(404, "no_subscription", "the user has no active subscription")
        sub_id = current[0]
        if immediately:
            sub = self.gateway.cancel_subscription_now(sub_id, f"cancel_now:{op}")
        else:
            sub = self.gateway.set_cancel_at_period_end(sub_id, True, f"cancel_at_period_end:{op}")
        with self.pool.connection() as conn, conn.transaction():
            state.apply_subscription(conn, sub, version=state.subscription_version(sub),
                                     source=f"api:cancel:{op}")
        return self._subscription_out(sub_id)

    def _subscription_out(self, sub_id: str) -> SubscriptionOut:
        with self.pool.connection() as conn:
            r = conn.execute("SELECT id, plan_id, status, cancel_at_period_end, current_period_end FROM subscriptions"
                             " WHERE id = %s", (sub_id,)).fetchone()
        return SubscriptionOut(subscription_id=r[0], plan_id=r[1], status=r[2], cancel_at_period_end=r[3],
                               current_period_end=r[4], has_access=_has_access(r[2]))

    def status(self, user: Principal) -> StatusOut:
        with self.pool.connection() as conn:
            sub = conn.execute(_CURRENT_SUB_SQL, (user.user_id,)).fetchone()
            bal = conn.execute("SELECT balance FROM credit_balances WHERE user_id = %s", (user.user_id,)).fetchone()
        credits = int(bal[0]) if bal else 0
        if sub is None:
            return StatusOut(user_id=user.user_id, plan_id=None, status="none", subscription_id=None,
                             cancel_at_period_end=False, current_period_end=None, has_access=False,
                             dunning_attempts=0, credits=credits)
        access = _has_access(sub[2])
        return StatusOut(user_id=user.user_id, plan_id=sub[1] if access else None, status=sub[2], subscription_id=sub[0],
                         cancel_at_period_end=sub[3], current_period_end=sub[4], has_access=access,
                         dunning_attempts=sub[5], credits=credits)

    # -- credit purchases ---------------------------------------------------------------------------
    def purchase(self, user: Principal, pack_id: str, payment_method: str | None, op: str) -> PurchaseOut:
        with self.pool.connection() as conn:
            pack = conn.execute("SELECT credits, amount, currency FROM credit_packs WHERE id = %s AND active",
                                (pack_id,)).fetchone()
        if pack is None:
            raise Problem(404, "unknown_pack", f"no active credit pack {pack_id!r}")
        credits, amount, currency = pack
        self.ensure_user(user)
        pm = self._payment_method(payment_method)
        card = card_of(self.gateway, pm)  # a read, before anything is created at Stripe
        attempt_id = f"cp_{op}"
        # The attempt row exists before Stripe is asked, keyed by our operation id (also in the PaymentIntent's
        # metadata): whatever happens after the Stripe call, the webhook can find what was bought. It carries
        # the risk assessment; a blocked attempt stops here.
        with self.pool.connection() as conn, conn.transaction():
            _lock_user(conn, user.user_id)  # one assessment at a time per user: velocity counts stay honest
            risk = self._risk(conn, user, amount, currency, card)
            blocked = risk is not None and risk.decision == "block"
            conn.execute(
                "INSERT INTO payment_attempts (id, user_id, kind, pack_id, credits, amount, currency, status,"
                " risk_score, risk_decision, risk_reasons, client_ip, ip_country, card_fingerprint, card_country)"
                " VALUES (%(id)s, %(user)s, 'credit_purchase', %(pack)s, %(credits)s, %(amount)s, %(currency)s,"
                " %(status)s, %(risk_score)s, %(risk_decision)s, %(risk_reasons)s, %(client_ip)s, %(ip_country)s,"
                " %(card_fingerprint)s, %(card_country)s) ON CONFLICT (id) DO NOTHING",
                {"id": attempt_id, "user": user.user_id, "pack": pack_id, "credits": credits, "amount": amount,
                 "currency": currency, "status": "blocked" if blocked else "creating",
                 **risk_columns(risk, self.client, card)})
        if blocked:
            raise self._blocked()
        try:
            customer = self._customer(user, None)
        except BaseException as exc:  # no PaymentIntent was asked for: the attempt is over
            with self.pool.connection() as conn:
                conn.execute("UPDATE payment_attempts SET status = 'failed', failure_message = %s, updated_at = now()"
                             " WHERE id = %s AND stripe_id IS NULL",
                             (exc.code if isinstance(exc, GatewayError) else type(exc).__name__, attempt_id))
            raise
        try:
            pi = self.gateway.create_payment_intent(
                amount=amount, currency=currency, customer_id=customer, payment_method=pm,
                metadata={"user_id": user.user_id, "pack_id": pack_id, "operation_id": op},
                idempotency_key=f"credit_purchase:{op}")
        except GatewayError as exc:
            # a definite refusal (4xx), or never sent (circuit open); after a 5xx or timeout it is unknown
            if exc.status < 500 or exc.code == "stripe_circuit_open":
                with self.pool.connection() as conn:
                    conn.execute("UPDATE payment_attempts SET status = 'failed', failure_message = %s,"
                                 " updated_at = now() WHERE id = %s AND stripe_id IS NULL", (exc.code, attempt_id))
            raise
        with self.pool.connection() as conn:
            linked = conn.execute(
                "UPDATE payment_attempts SET stripe_id = %s, updated_at = now(), status = CASE WHEN status IN"
                " ('succeeded', 'refunded') THEN status ELSE %s END WHERE id = %s AND (stripe_id IS NULL OR"
                " stripe_id = %s)", (pi["id"], pi["status"], attempt_id, pi["id"])).rowcount
            if not linked:  # Stripe answered this operation with another PaymentIntent: keep a row for it too
                conn.execute("INSERT INTO payment_attempts (id, user_id, kind, stripe_id, pack_id, credits, amount,"
                             " currency, status) VALUES (%s, %s, 'credit_purchase', %s, %s, %s, %s, %s, %s)"
                             " ON CONFLICT (stripe_id) DO NOTHING",
                             (f"cp_{pi['id']}", user.user_id, pi["id"], pack_id, credits, amount, currency,
                              pi["status"]))
        return PurchaseOut(payment_intent_id=pi["id"], client_secret=pi.get("client_secret"), status=pi["status"],
                           pack_id=pack_id, credits=credits, amount=amount,
                           amount_display=to_major_str(amount, currency), currency=currency)

    def confirm_payment(self, user: Principal, pi_id: str, payment_method: str | None, op: str) -> ConfirmPaymentOut:
        with self.pool.connection() as conn:
            owned = conn.execute("SELECT 1 FROM payment_attempts WHERE stripe_id = %s AND user_id = %s"
                                 " AND kind = 'credit_purchase'", (pi_id, user.user_id)).fetchone()
        if owned is None:
            raise Problem(404, "unknown_payment", "no credit purchase with this PaymentIntent for this user")
        pi = self.gateway.retrieve_payment_intent(pi_id)
        if pi["status"] in ("requires_confirmation", "requires_payment_method"):
            pm = payment_method if pi["status"] == "requires_payment_method" else None
            if pi["status"] == "requires_confirmation" or pm:
                try:
                    pi = self.gateway.confirm_payment_intent(pi_id, payment_method=pm, idempotency_key=f"confirm:{op}")
                except GatewayError as exc:
                    with self.pool.connection() as conn:
                        conn.execute("UPDATE payment_attempts SET status = 'failed', failure_message = %s,"
                                     " attempt_count = attempt_count + 1, updated_at = now() WHERE stripe_id = %s",
                                     (exc.code, pi_id))
                    raise
        granted = False
        try:
            with self.pool.connection() as conn, conn.transaction():
                if pi["status"] == "succeeded":
                    granted = bool(state.grant_credits(conn, pi))
                else:
                    conn.execute("UPDATE payment_attempts SET status = %s, updated_at = now() WHERE stripe_id = %s"
                                 " AND status NOT IN ('succeeded', 'refunded', 'manual_review')", (pi["status"], pi_id))
                bal = conn.execute("SELECT balance FROM credit_balances WHERE user_id = %s",
                                   (user.user_id,)).fetchone()
        except state.AmountMismatch as exc:
            # Paid, but not what we priced: never granted; held for a human (the payment_intent.succeeded
            # webhook parks its event and pages on-call). A clear 409, not a 500 (issue 12, defect 8).
            with self.pool.connection() as conn:
                conn.execute("UPDATE payment_attempts SET status = 'manual_review', failure_message = %s,"
                             " updated_at = now() WHERE stripe_id = %s", ("amount_mismatch", pi_id))
                state.log_error(conn, "confirm_payment", str(exc), {"payment_intent": pi_id, "user": user.user_id})
            raise Problem(409, "amount_mismatch", "the payment's amount differs from the price of the pack; it is"
                          " held for manual review and no credits were granted", payment_intent_id=pi_id) from None
        return ConfirmPaymentOut(payment_intent_id=pi_id, status=pi["status"], credits_granted=granted,
                                 credits=int(bal[0]) if bal else 0)

    # -- history ------------------------------------------------------------------------------------
    def history(self, user: Principal, limit: int, cursor: str | None) -> HistoryOut:
        after: tuple[dt.datetime, str] | None = None
        if cursor:
            try:
                ts, _, ident = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
                if not ident.isprintable():
                    raise ValueError("cursor id")
                after = (dt.datetime.fromisoformat(ts), ident)
            except (ValueError, UnicodeDecodeError):
                raise Problem(400, "bad_cursor", "cursor is not one this API returned") from None
        params: list[Any] = [user.user_id]
        where = "user_id = %s"
        if after:
            where += " AND (created_at, id) < (%s, %s)"
            params += [after[0], after[1]]
        with self.pool.connection() as conn:
            rows = conn.execute(f"SELECT id, kind, stripe_id, amount, currency, status, created_at FROM payment_attempts"
                                f" WHERE {where} ORDER BY created_at DESC, id DESC LIMIT %s",
                                [*params, limit + 1]).fetchall()
        items = [HistoryItem(id=r[0], kind=r[1], stripe_id=r[2], amount=r[3], amount_display=to_major_str(r[3], r[4]),
                             currency=r[4], status=r[5], created_at=r[6]) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = base64.urlsafe_b64encode(f"{last[6].isoformat()}|{last[0]}".encode()).decode()
        return HistoryOut(items=items, next_cursor=next_cursor)


def _lock_user(conn: psycopg.Connection, user_id: str) -> None:
    """Serialises the short claim and write transactions of one user's create-subscription (never held
    across a Stripe call)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"create_subscription:{user_id}",))


@contextlib.contextmanager
def _use(pool: ConnectionPool, conn: psycopg.Connection | None) -> Iterator[psycopg.Connection]:
    """The caller's connection when given (its transaction and locks), else a pooled one for this block."""
    if conn is not None:
        yield conn
    else:
        with pool.connection() as own:
            yield own


def _has_access(status: str) -> bool:
    """Access while active/trialing/past_due (dunning grace); a cancel-at-period-end keeps it until the end.

    Stripe itself ends a cancel-at-period-end subscription (customer.subscription.deleted): until then the
    status stays active, so the status alone decides; the period end is only shown to the client.
    """
    return status in state.ACCESS_STATUSES
