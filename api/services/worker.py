"""Processes the webhook inbox and the email outbox.

A few events per transaction (`claim`, CASHBOOK_API_WORKER_CLAIM): claim them with `FOR UPDATE SKIP LOCKED`
(several workers never take the same event), run each handler inside its own savepoint, mark each event
processed in the same transaction, so an effect and its "processed" mark commit together or not at all.
A failing handler is retried with exponential backoff; after `max_attempts` failures the event goes to
`manual_review` with its error. A `state.ManualReview` (an amount mismatch, or a PaymentIntent of ours
without a payment_attempts row) is not transient (Stripe's object will not change on retry): it goes to
`manual_review` on its first attempt, an alert row is written in the same transaction, and on-call is paged
once that commits.
"""

from __future__ import annotations

import contextvars
import smtplib
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage

import psycopg
import structlog
from psycopg_pool import ConnectionPool

from api.services import state
from api.services.handlers import HandlerContext, NeedsStripe, dispatch
from api.services.paging import Pager
from cashbook import metrics
from cashbook.logs import get_logger, info_line
from cashbook.stripe_gateway import StripeGateway

_log = get_logger("cashbook.worker")

CLAIM_SQL = (
    "SELECT id, payload, attempts, request_id FROM webhook_events WHERE status IN ('pending', 'failed')"
    " AND next_attempt_at <= now() ORDER BY created, received_at LIMIT %s FOR UPDATE SKIP LOCKED"
)
CLAIM_ONE_SQL = (
    "SELECT id, payload, attempts, request_id FROM webhook_events WHERE id = %s AND status IN ('pending', 'failed')"
    " FOR UPDATE SKIP LOCKED"
)
# how long a batch waits for a lock while it holds those of the events it booked (process_claimed); a batch of 8
# takes ~10-20 ms, and Postgres looks for deadlocks only after deadlock_timeout (1 s)
BATCH_LOCK_TIMEOUT = "100ms"
OUTCOME_LABEL = {"manual_review": "parked"}  # the metric says what happened to the event, not the column value


@dataclass(frozen=True)
class WorkerConfig:
    batch: int = 50
    claim: int = 8  # events per transaction (process_claimed)
    max_attempts: int = 5
    backoff_seconds: float = 2.0
    backoff_max_seconds: float = 3600.0
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "billing@cashbook.local"


def worker_connection_options(synchronous_commit: bool) -> dict[str, str]:
    """Connection options for the pool of a `cashbook worker` process's webhook threads.

    Their commits don't wait for the WAL flush (`synchronous_commit=off`) unless `synchronous_commit` is set
    (CASHBOOK_API_WORKER_SYNCHRONOUS_COMMIT). Nothing Stripe sent can be lost that way: the inbox row was committed
    durably before Stripe got its 200, and an event's effects commit together with its processed mark, so a
    Postgres crash can only lose the newest commits whole (the WAL is a sequence: any later durable commit, an
    intake or a billing call, flushes them too); those events are pending again and are booked again with the
    same ledger entry ids. What can repeat is an outside effect sent after such a commit: a page or an email.
    Waiting for one flush per event was most of a worker thread's time (docs/BENCHMARKS.md, webhooks).
    The API process's pool is not affected: its commits stay durable before each response.
    """
    return {} if synchronous_commit else {"options": "-c synchronous_commit=off"}


def backoff(attempts: int, base: float, cap: float) -> float:
    """Delay before retry number `attempts` (1-based): base·2^(n−1), capped."""
    return min(cap, base * (2 ** max(0, attempts - 1)))


@dataclass
class _Handled:
    """What handling one claimed event left to do once its transaction has ended."""

    event_id: str
    fields: dict[str, str]  # the log context of its processing (request id, event id, type)
    started: float
    done: tuple[str, str, int] | None = None  # (type, outcome, attempts): to count and log after the commit
    page: str | None = None  # the dedup key of an alert to page after the commit
    need: NeedsStripe | None = None  # nothing changed: fetch with no connection held, then handle it again
    alone: bool = False  # nothing changed: handle it again in a transaction of its own

    @property
    def deferred(self) -> bool:
        return self.need is not None or self.alone


class Worker:
    def __init__(self, pool: ConnectionPool, gateway: StripeGateway | None, config: WorkerConfig,
                 pager: Pager | None = None) -> None:
        self.pool, self.config = pool, config
        self.ctx = HandlerContext(gateway)
        self.pager = pager or Pager.from_env()

    def process_one(self) -> bool:
        """Process at most one due event in its own transaction; False when none is due."""
        return self.process_claimed(1) > 0

    def process_claimed(self, limit: int) -> int:
        """Claim up to `limit` due events and book them in one transaction, each in its own savepoint; returns how
        many were handled (events claimed after a deferred one go back, untouched, for the next claim).

        Why several per transaction: each event cost a BEGIN, a claim and a COMMIT besides its own statements
        (about a third of a worker's round trips to Postgres), and the storm's processing lag is bounded by how
        many events the worker threads book per second (docs/BENCHMARKS.md, webhooks). An event's effects and
        its processed mark still commit together or not at all; a handler that fails rolls back to its savepoint
        and the event is marked failed in the same transaction, so one bad event never undoes the others.

        A batch keeps the locks of the events it booked until it commits, which single events never did, so it
        must not wait on anyone while holding them: it waits at most `BATCH_LOCK_TIMEOUT` for a lock (an API
        request confirming a payment, another thread's batch), so a cycle is broken by the batch long before
        Postgres' deadlock check would abort the other side. An event whose handler waited too long, needs Stripe
        (no Stripe call inside a transaction) or could not be recorded is deferred: the batch stops there and
        commits what it booked, and that event is handled alone right after, before this thread claims again, so
        a thread still books events in claim order. The per-event outcome line, the metrics and any page come
        after the commit.
        """
        handled: list[_Handled] = []
        with self.pool.connection() as conn, conn.transaction():
            rows = conn.execute(CLAIM_SQL, (limit,)).fetchall()
            batched = len(rows) > 1
            if batched:
                conn.execute(f"SET LOCAL lock_timeout = '{BATCH_LOCK_TIMEOUT}'")
            for row in rows:
                item = contextvars.copy_context().run(self._handle, conn, row, HandlerContext(self.ctx.gateway),
                                                      None, batched)
                handled.append(item)
                if item.deferred:
                    break
        for item in handled:
            contextvars.copy_context().run(self._after_commit, item)
        return len(handled)

    def _after_commit(self, item: _Handled) -> None:
        structlog.contextvars.bind_contextvars(**item.fields)
        while item.deferred:  # at most twice: a lock conflict, then the Stripe fetch it asks for
            item = self._handle_alone(item)
        if item.done is not None:
            event_type, outcome, attempts = item.done
            label = OUTCOME_LABEL.get(outcome, outcome)
            metrics.EVENTS.labels(event_type, label).inc()
            elapsed = time.perf_counter() - item.started
            metrics.EVENT_SECONDS.labels(event_type).observe(elapsed)
            fields = {"outcome": outcome, "attempts": attempts, "duration_ms": round(elapsed * 1000, 2)}
            if label in ("processed", "ignored"):  # one line per event: the cheap path (cashbook/logs.py)
                info_line("cashbook.worker", "webhook event " + label, **fields)
            else:
                _log.warning("webhook event " + label, **fields)
        if item.page is not None:
            self.pager.deliver(self.pool, item.page)

    def _handle_alone(self, item: _Handled) -> _Handled:
        """Fetch what the handler asked for (if it did) with no connection held, then claim the event again and
        handle it in a transaction of its own (no lock timeout: alone, it holds nothing anyone waits for)."""
        ctx = HandlerContext(self.ctx.gateway)
        fetch_error: Exception | None = None
        if item.need is not None:
            try:
                ctx.prefetched[item.need.key] = item.need.fetch(self.ctx.gateway)  # type: ignore[arg-type]
            except Exception as exc:
                fetch_error = exc
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute(CLAIM_ONE_SQL, (item.event_id,)).fetchone()
            if row is None:  # another worker has it, or has booked it already
                return _Handled(item.event_id, item.fields, item.started)
            again = self._handle(conn, row, ctx, fetch_error)
        again.started = item.started
        return again

    def _handle(self, conn: psycopg.Connection, row: tuple, ctx: HandlerContext,
                fetch_error: Exception | None = None, batched: bool = False) -> _Handled:
        """Run one claimed event's handler in a savepoint and record its outcome, inside the caller's transaction.

        Runs in a copy of the caller's context: the event's request id, id and type are bound to every log line
        of its processing (Stripe fetch and paging included) and dropped afterwards."""
        event_id, event, attempts, request_id = row
        # every line from here on (handlers, ledger, Stripe, paging) carries the delivery's request id
        fields = {k: v for k, v in (("request_id", request_id), ("event_id", event_id),
                                    ("event_type", event.get("type"))) if v is not None}
        structlog.contextvars.bind_contextvars(**fields)
        item = _Handled(event_id, fields, time.perf_counter())
        try:
            if fetch_error is not None:
                raise fetch_error
            with conn.transaction():
                outcome = dispatch(conn, event, ctx)
        except NeedsStripe as need:
            if not ctx.prefetched:
                item.need = need
                return item
            return self._record_failure(conn, item, event, attempts, batched,
                                        RuntimeError(f"handler asked Stripe twice ({need.key})"))
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected) as exc:
            if not batched:  # alone, a deadlock is an ordinary failed attempt, retried after its backoff
                return self._failed(conn, item, event, attempts, exc)
            _log.info("webhook event deferred: a lock it needs is held elsewhere; it is handled alone")
            item.alone = True
            return item
        except Exception as exc:
            return self._record_failure(conn, item, event, attempts, batched, exc)
        # clock_timestamp(), not now(): with several events per transaction now() is when the claim began
        conn.execute("UPDATE webhook_events SET status = %s, attempts = attempts + 1, last_error = NULL,"
                     " processed_at = clock_timestamp() WHERE id = %s", (outcome, event_id))
        item.done = (str(event.get("type")), outcome, attempts + 1)
        return item

    def _record_failure(self, conn: psycopg.Connection, item: _Handled, event: dict, attempts: int, batched: bool,
                        exc: Exception) -> _Handled:
        """`_failed`, in a savepoint of its own in a batch: if recording the failure fails too (the error log, the
        alert), only this event is left for a transaction of its own, not the whole batch rolled back each round."""
        if not batched:
            return self._failed(conn, item, event, attempts, exc)
        try:
            with conn.transaction():
                return self._failed(conn, item, event, attempts, exc)
        except Exception:
            _log.exception("recording a failed webhook event failed; it is handled alone")
            return _Handled(item.event_id, item.fields, item.started, alone=True)

    def _failed(self, conn: psycopg.Connection, item: _Handled, event: dict, attempts: int,
                exc: Exception) -> _Handled:
        """Record a failed attempt (backoff, or manual_review), and the alert to page for a ManualReview."""
        attempts += 1
        review = isinstance(exc, state.ManualReview)
        final = attempts >= self.config.max_attempts or review
        delay = backoff(attempts, self.config.backoff_seconds, self.config.backoff_max_seconds)
        message = f"{type(exc).__name__}: {exc}"
        conn.execute(
            "UPDATE webhook_events SET status = %s, attempts = %s, last_error = %s,"
            " next_attempt_at = now() + make_interval(secs => %s) WHERE id = %s",
            ("manual_review" if final else "failed", attempts, message[:2000], delay, item.event_id))
        state.log_error(conn, "webhook_worker", message, {"event_id": item.event_id, "attempts": attempts,
                                                          "type": event.get("type")})
        item.done = (str(event.get("type")), "manual_review" if final else "failed", attempts)
        _log.warning("webhook handler failed", attempts=attempts, final=final, error=message[:500])
        if review:
            item.page = self.pager.record(conn, item.event_id, f"Payment needs manual review ({event.get('type')}"
                                                               f" {item.event_id}): {message}")
        return item

    def process_batch(self) -> int:
        """Up to `batch` events, `claim` per transaction, then the email outbox; the number of events handled."""
        n = 0
        while n < self.config.batch:
            got = self.process_claimed(min(self.config.claim, self.config.batch - n))
            if got == 0:
                break
            n += got
        self.send_emails()
        return n

    def send_emails(self, limit: int = 20) -> int:
        """Send (SMTP configured) or log pending outbox emails; each row is handled once."""
        sent = 0
        for _ in range(limit):
            with self.pool.connection() as conn, conn.transaction():
                row = conn.execute("SELECT id, to_addr, subject, body FROM email_outbox WHERE status = 'pending'"
                                   " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED").fetchone()
                if row is None:
                    break
                mail_id, to_addr, subject, body = row
                if self.config.smtp_host and to_addr:
                    try:
                        msg = EmailMessage()
                        msg["From"], msg["To"], msg["Subject"] = self.config.smtp_from, to_addr, subject
                        msg.set_content(body)
                        with smtplib.SMTP(self.config.smtp_host, self.config.smtp_port, timeout=10) as smtp:
                            smtp.send_message(msg)
                        status, error = "sent", None
                    except (OSError, smtplib.SMTPException) as exc:
                        status, error = "pending", str(exc)
                else:
                    # never the recipient, subject or body: they are personal data (issue 12, defect 8)
                    _log.info("email %s not sent: no SMTP configured (kept in email_outbox)", mail_id)
                    status, error = "logged", None
                conn.execute("UPDATE email_outbox SET status = CASE WHEN attempts + 1 >= 5 AND %s = 'pending'"
                             " THEN 'failed' ELSE %s END, attempts = attempts + 1, last_error = %s,"
                             " sent_at = CASE WHEN %s <> 'pending' THEN now() END WHERE id = %s",
                             (status, status, error, status, mail_id))
                if status == "pending":
                    break  # SMTP is down: try again on the next round
                sent += 1
        return sent

    def run_forever(self, poll_seconds: float, stop: threading.Event, wakeup: threading.Event | None = None) -> None:
        """Loop until `stop`; `wakeup` lets the webhook route shorten the processing lag."""
        while not stop.is_set():
            try:
                n = self.process_batch()
            except Exception:  # the database went away: keep the loop alive, try again later
                _log.exception("worker round failed")
                n = 0
            if n == 0:
                if wakeup is not None:
                    wakeup.wait(poll_seconds)
                    wakeup.clear()
                else:
                    stop.wait(poll_seconds)
