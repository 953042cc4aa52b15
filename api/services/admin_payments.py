"""Manual payments and adjustments recorded by admins (issue 13), with four-eyes approval above a threshold.

One transaction writes the `manual_payments` row, exactly one `ledger_entries` row and the credits (when the
payment is `recorded`), and the audit row. Above the approval threshold the payment is `pending_approval`:
nothing reaches the ledger or the balance until a second, *different* admin approves it (the database refuses
`approved_by = created_by` too). Rejecting writes nothing but the decision.

Ledger contract (DESIGN.md Contract 2/3): `payment` is matched by reconciliation against the Stripe charge its
`stripe_id` names (so a payment must name one: without it every run would report it `missing_in_stripe`);
`manual_adjustment` is never matched. The unique key `ledger_entries (type, stripe_id)` is the exactly-once
guard: a Stripe object already in the ledger (its webhook did arrive) is a 409 `already_in_ledger`, never a
second row — the same path auto-fix uses.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from api.audit import Auditor
from api.problems import Problem
from api.schemas.admin import ManualPaymentIn, ManualPaymentOut, ManualPaymentPage
from api.services import admin_cursor
from api.services.state import lock_object, log_error
from api.settings import ApiSettings

_COLUMNS = ("id, user_id, type, amount, currency, reason, credits, stripe_id, occurred_at, source, discrepancy_id, status,"
            " created_by, created_at, approved_by, approved_at, rejected_by, rejected_at, decision_note,"
            " ledger_entry_id")
PAYMENT_PREFIXES = ("ch_", "py_", "pi_", "in_")


class ManualPayments:
    def __init__(self, pool: ConnectionPool, settings: ApiSettings) -> None:
        self.pool, self.settings = pool, settings

    # -- rules ------------------------------------------------------------------------------------------
    def _check(self, type_: str, amount: int, currency: str, credits: int | None, stripe_id: str | None) -> bool:
        """Refuse what is never allowed; True when a second admin must approve."""
        if amount == 0:
            raise Problem(422, "invalid_amount", "amount must not be 0")
        if type_ == "payment":
            if amount < 0:
                raise Problem(422, "invalid_amount", "a payment is money received: amount must be positive"
                              " (record money returned as a manual_adjustment)")
            if not stripe_id or not stripe_id.startswith(PAYMENT_PREFIXES):
                raise Problem(422, "stripe_id_required", "a payment must name the Stripe charge it records"
                              " (ch_, py_, pi_ or in_ id); money received outside Stripe is a manual_adjustment")
        if (type_ in ("refund", "dispute") and amount > 0) or (type_ == "dispute_reversal" and amount < 0):
            raise Problem(422, "invalid_amount", f"a {type_} has the sign of its Stripe movement")
        limit = self.settings.max_manual_payment.get(currency)
        if limit is None:
            raise Problem(422, "currency_not_allowed", f"manual payments in {currency} are not configured"
                          " (MAX_MANUAL_PAYMENT)", currency=currency)
        if abs(amount) > limit:
            raise Problem(422, "manual_payment_over_limit", f"|amount| {abs(amount)} exceeds MAX_MANUAL_PAYMENT"
                          f" {limit} for {currency}", limit=limit, currency=currency)
        if credits is not None:
            if credits == 0:
                raise Problem(422, "invalid_credits", "credits must not be 0 (omit them instead)")
            if abs(credits) > self.settings.max_manual_credits:
                raise Problem(422, "manual_credits_over_limit", f"|credits| {abs(credits)} exceeds"
                              f" {self.settings.max_manual_credits}", limit=self.settings.max_manual_credits)
        threshold = self.settings.manual_payment_approval_threshold.get(currency)
        return (threshold is None or abs(amount) > threshold
                or (credits is not None and abs(credits) > self.settings.manual_credits_approval_threshold))

    # -- writes ---------------------------------------------------------------------------------------
    def create(self, body: ManualPaymentIn, admin_id: str, audit: Auditor, op: str, *,
               occurred_at: dt.datetime | None = None, source: str = "manual",
               discrepancy_id: str | None = None) -> ManualPaymentOut:
        currency = body.currency.lower()
        type_ = body.type or ("payment" if body.stripe_id else "manual_adjustment")
        needs_approval = self._check(type_, body.amount, currency, body.credits, body.stripe_id)
        mp_id = f"mp_{op}"
        with self.pool.connection() as conn, conn.transaction():
            if conn.execute("SELECT 1 FROM users WHERE id = %s", (body.user_id,)).fetchone() is None:
                raise Problem(404, "unknown_user", f"no user {body.user_id!r}")
            inserted = conn.execute(
                "INSERT INTO manual_payments (id, user_id, type, amount, currency, reason, credits, stripe_id,"
                " occurred_at, source, discrepancy_id, status, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
                " %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING id",
                (mp_id, body.user_id, type_, body.amount, currency, body.reason, body.credits, body.stripe_id,
                 occurred_at, source, discrepancy_id, "pending_approval" if needs_approval else "recorded",
                 admin_id)).fetchone()
            if inserted is None:  # the same claim taken over after a crash: what the first run wrote stands
                return ManualPaymentOut(**_get(conn, mp_id))
            if not needs_approval:
                _apply(conn, mp_id)
            row = _get(conn, mp_id)
            audit.record(conn, f"{source}_payment.create", mp_id, after=row)
        return ManualPaymentOut(**row)

    def approve(self, mp_id: str, admin_id: str, note: str | None, audit: Auditor) -> ManualPaymentOut:
        with self.pool.connection() as conn, conn.transaction():
            before = self._pending(conn, mp_id)
            if before["created_by"] == admin_id:
                raise Problem(403, "four_eyes_required", "a payment must be approved by a different admin than"
                              " the one who recorded it")
            self._check(before["type"], before["amount"], before["currency"], before["credits"],
                        before["stripe_id"])  # the limits in force now
            conn.execute("UPDATE manual_payments SET status = 'recorded', approved_by = %s, approved_at = now(),"
                         " decision_note = %s WHERE id = %s", (admin_id, note, mp_id))
            _apply(conn, mp_id)
            after = _get(conn, mp_id)
            audit.record(conn, "manual_payment.approve", mp_id, before=before, after=after)
        return ManualPaymentOut(**after)

    def reject(self, mp_id: str, admin_id: str, note: str, audit: Auditor) -> ManualPaymentOut:
        """Any admin may reject (the creator withdrawing it too): rejecting moves no money."""
        with self.pool.connection() as conn, conn.transaction():
            before = self._pending(conn, mp_id)
            conn.execute("UPDATE manual_payments SET status = 'rejected', rejected_by = %s, rejected_at = now(),"
                         " decision_note = %s WHERE id = %s", (admin_id, note, mp_id))
            after = _get(conn, mp_id)
            audit.record(conn, "manual_payment.reject", mp_id, before=before, after=after)
        return ManualPaymentOut(**after)

    @staticmethod
    def _pending(conn: psycopg.Connection, mp_id: str) -> dict[str, Any]:
        row = _get(conn, mp_id, lock=True)
        if row is None:
            raise Problem(404, "not_found", f"no manual payment {mp_id}")
        if row["status"] != "pending_approval":
            raise Problem(409, "not_pending", f"manual payment {mp_id} is {row['status']}, not pending_approval",
                          status_now=row["status"])
        return row

    # -- reads ------------------------------------------------------------------------------------------
    def get(self, mp_id: str) -> ManualPaymentOut:
        with self.pool.connection() as conn:
            row = _get(conn, mp_id)
        if row is None:
            raise Problem(404, "not_found", f"no manual payment {mp_id}")
        return ManualPaymentOut(**row)

    def list(self, status: str | None, limit: int, cursor: str | None) -> ManualPaymentPage:
        """Newest first, keyset on (created_at, id)."""
        after = admin_cursor.decode(cursor, dt.datetime, str)
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                f"SELECT {_COLUMNS} FROM manual_payments WHERE (%(status)s::text IS NULL OR status = %(status)s)"
                " AND (%(at)s::timestamptz IS NULL OR (created_at, id) < (%(at)s, %(id)s))"
                " ORDER BY created_at DESC, id DESC LIMIT %(n)s",
                {"status": status, "at": after and after[0], "id": after and after[1], "n": limit + 1}).fetchall()
        items = [ManualPaymentOut(**admin_cursor.utc(r)) for r in rows[:limit]]
        nxt = admin_cursor.encode(rows[limit - 1]["created_at"], rows[limit - 1]["id"]) if len(rows) > limit else None
        return ManualPaymentPage(items=items, next_cursor=nxt)


def _get(conn: psycopg.Connection, mp_id: str, *, lock: bool = False) -> Any:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"SELECT {_COLUMNS} FROM manual_payments WHERE id = %s" + (" FOR UPDATE" if lock else ""),
                          (mp_id,)).fetchone()
    return None if row is None else admin_cursor.utc(row)


def _apply(conn: psycopg.Connection, mp_id: str) -> None:
    """Write the payment's one ledger row and its credits, inside the caller's transaction."""
    row = _get(conn, mp_id, lock=True)
    if row["stripe_id"]:
        lock_object(conn, row["stripe_id"])  # the webhook path takes the same lock before its ledger write
    customer = conn.execute("SELECT stripe_customer_id FROM users WHERE id = %s", (row["user_id"],)).fetchone()[0]
    entry_id = f"manual_{mp_id}"
    written = conn.execute(
        "INSERT INTO ledger_entries (entry_id, occurred_at, type, amount, currency, stripe_id, customer_id,"
        " description) VALUES (%s, coalesce(%s, now()), %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (entry_id, row["occurred_at"], row["type"], row["amount"], row["currency"], row["stripe_id"], customer,
         f"{row['source']} {mp_id}: {row['reason']}"[:500])).rowcount
    if written != 1:
        raise Problem(409, "already_in_ledger", f"the ledger already has a {row['type']} for {row['stripe_id']}"
                      " (its webhook arrived, or it was recorded before); nothing was written",
                      stripe_id=row["stripe_id"])
    conn.execute("UPDATE manual_payments SET ledger_entry_id = %s, occurred_at = coalesce(occurred_at, now())"
                 " WHERE id = %s", (entry_id, mp_id))
    if row["credits"]:
        conn.execute("INSERT INTO credit_movements (user_id, delta, reason, stripe_id) VALUES (%s, %s, 'manual', %s)",
                     (row["user_id"], row["credits"], mp_id))
        balance = conn.execute(
            "INSERT INTO credit_balances (user_id, balance) VALUES (%s, %s) ON CONFLICT (user_id) DO UPDATE"
            " SET balance = credit_balances.balance + EXCLUDED.balance, updated_at = now() RETURNING balance",
            (row["user_id"], row["credits"])).fetchone()[0]
        if balance < 0:
            log_error(conn, "credits", f"credit balance of {row['user_id']} is {balance} after manual {mp_id}",
                      {"user": row["user_id"], "manual_payment": mp_id})
