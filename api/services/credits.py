"""Credits follow the money back: refunds (partial too) and disputes of credit purchases (issue 12, defect 8).

Decisions (docs/api.md, "Credits on refunds and disputes"):
- A refund takes back credits in proportion to the money returned: after refunds totalling R of a purchase
  of amount A with C credits, the purchase gives floor(C × (A − R) / A) credits — rounded down, so the
  credits kept are never worth more than the money kept (a whole credit cannot be split). Each refund
  (`re_` id) books its own reversal movement, once, whichever delivery of `charge.refunded` carries it.
- A dispute takes back every credit the purchase still gives as soon as it is opened (the money is
  withdrawn then); a dispute won returns exactly what the dispute took; a lost one leaves them taken.
- Balances may go negative (credits already spent on money that went back): the shortfall stays visible in
  `credit_balances` and an `error_logs` row flags it for support.
Purchases never granted have nothing to reverse; only the ledger rows are written for them.
Every movement names its purchase (`credit_movements.payment_intent`).
"""

from __future__ import annotations

from typing import Any

import psycopg

from api.services.state import lock_object, log_error
from cashbook.logs import get_logger

_log = get_logger("cashbook.credits")

_GRANTED = ("succeeded", "partially_refunded", "refunded", "disputed", "dispute_lost")
_OF_PURCHASE = "(payment_intent = %(pi)s OR (reason = 'credit_purchase' AND stripe_id = %(pi)s))"


def _purchase(conn: psycopg.Connection, pi_id: str) -> tuple[str, int, int, str] | None:
    """(user, credits, amount, status) of a granted credit purchase, under the object's lock."""
    lock_object(conn, pi_id)
    row = conn.execute("SELECT user_id, credits, amount, status FROM payment_attempts WHERE stripe_id = %s"
                       " AND kind = 'credit_purchase'", (pi_id,)).fetchone()
    if row is None or row[3] not in _GRANTED:
        return None
    granted = conn.execute("SELECT 1 FROM credit_movements WHERE reason = 'credit_purchase' AND stripe_id = %s",
                           (pi_id,)).fetchone()
    return (row[0], int(row[1]), int(row[2]), row[3]) if granted else None


def _sum(conn: psycopg.Connection, pi_id: str, reason: str | None = None) -> int:
    sql = f"SELECT coalesce(sum(delta), 0) FROM credit_movements WHERE {_OF_PURCHASE}"
    if reason:
        sql += " AND reason = %(reason)s"
    return int(conn.execute(sql, {"pi": pi_id, "reason": reason}).fetchone()[0])


def _move(conn: psycopg.Connection, user_id: str, delta: int, reason: str, stripe_id: str, pi_id: str) -> bool:
    inserted = conn.execute(
        "INSERT INTO credit_movements (user_id, delta, reason, stripe_id, payment_intent) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (reason, stripe_id) DO NOTHING", (user_id, delta, reason, stripe_id, pi_id)).rowcount
    if not inserted:
        return False
    _log.info("credits moved", reason=reason, delta=delta, stripe_id=stripe_id, payment_intent=pi_id)
    balance = conn.execute("INSERT INTO credit_balances (user_id, balance) VALUES (%s, %s) ON CONFLICT (user_id) DO"
                           " UPDATE SET balance = credit_balances.balance + EXCLUDED.balance, updated_at = now()"
                           " RETURNING balance", (user_id, delta)).fetchone()[0]
    if balance < 0:
        log_error(conn, "credits", f"credit balance of {user_id} is {balance} after {reason} {stripe_id}",
                  {"user": user_id, "payment_intent": pi_id, "reason": reason, "stripe_id": stripe_id})
    return True


def reverse_for_refunds(conn: psycopg.Connection, pi_id: str, refunds: list[dict[str, Any]]) -> None:
    """Book the credit reversal of each refund of `pi_id` not booked yet (refunds as Stripe lists them)."""
    purchase = _purchase(conn, pi_id)
    if purchase is None:
        return
    user_id, credits, amount, status = purchase
    done = sorted((r for r in refunds if r.get("status") not in ("failed", "canceled")),
                  key=lambda r: (int(r.get("created") or 0), r["id"]))
    refunded = 0
    for r in done:
        refunded += int(r["amount"])
        target = credits - (credits * max(0, amount - refunded)) // amount  # total taken back after this refund
        already = -_sum(conn, pi_id, "refund")
        if target > already:
            _move(conn, user_id, -(target - already), "refund", r["id"], pi_id)
    if refunded and status not in ("disputed", "dispute_lost"):
        conn.execute("UPDATE payment_attempts SET status = %s, updated_at = now() WHERE stripe_id = %s",
                     ("refunded" if refunded >= amount else "partially_refunded", pi_id))


def take_back_for_dispute(conn: psycopg.Connection, pi_id: str, dispute_id: str) -> bool:
    """A dispute opened: every credit the purchase still gives is taken back, once per dispute."""
    purchase = _purchase(conn, pi_id)
    if purchase is None:
        return False
    net = _sum(conn, pi_id)
    if net > 0:
        _move(conn, purchase[0], -net, "dispute", dispute_id, pi_id)
    conn.execute("UPDATE payment_attempts SET status = 'disputed', updated_at = now() WHERE stripe_id = %s", (pi_id,))
    return True


def settle_dispute(conn: psycopg.Connection, pi_id: str, dispute_id: str, won: bool) -> bool:
    """A dispute closed: won → return what the dispute took; lost → they stay taken."""
    purchase = _purchase(conn, pi_id)
    if purchase is None:
        return False
    user_id = purchase[0]
    if won:
        taken = -int(conn.execute("SELECT coalesce(sum(delta), 0) FROM credit_movements WHERE reason = 'dispute'"
                                  " AND stripe_id = %s", (dispute_id,)).fetchone()[0])
        if taken > 0:
            _move(conn, user_id, taken, "dispute_won", dispute_id, pi_id)
        refunded = -_sum(conn, pi_id, "refund")
        status = "succeeded" if refunded == 0 else "partially_refunded"
    else:
        status = "dispute_lost"
    conn.execute("UPDATE payment_attempts SET status = %s, updated_at = now() WHERE stripe_id = %s", (status, pi_id))
    return True
