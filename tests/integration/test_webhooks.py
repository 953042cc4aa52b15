"""Webhook endpoint + inbox + worker over real HTTP and real Postgres, with the real Stripe payloads.

Payloads from tests/fixtures/stripe/events (real Stripe events) are re-signed with the test secret and given unique ids.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
import uuid
from typing import Any

import psycopg

from tests.integration.api_fixtures import ApiFactory, RunningApi, load_event, signed, wait_until


def post(api: RunningApi, event: dict[str, Any] | bytes, **kw: Any) -> Any:
    body, headers = signed(event, **kw)
    return api.client.post("/api/webhooks/stripe", content=body, headers=headers)


def q(pg_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql, params).fetchall()


def settled(pg_url: str, n: int) -> bool:
    return q(pg_url, "SELECT count(*) FROM webhook_events WHERE status IN ('processed', 'ignored')")[0][0] >= n


def test_signature_and_payload_errors(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory(worker_in_process=False)
    event = load_event("invoice.paid")
    body, headers = signed(event)
    assert api.client.post("/api/webhooks/stripe", content=body,
                           headers={"Content-Type": "application/json"}).status_code == 400
    r = post(api, event, secret="whsec_wrong")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in r.text
    assert post(api, event, timestamp=int(time.time()) - 301).status_code == 401
    tampered = body.replace(b'"amount_paid": 2000', b'"amount_paid": 1')
    assert tampered != body
    assert api.client.post("/api/webhooks/stripe", content=tampered, headers=headers).status_code == 401
    assert post(api, b"{not json").status_code == 400
    assert post(api, b'{"id": "evt_x", "type": "invoice.paid"}').status_code == 400
    assert q(pg_url, "SELECT count(*) FROM webhook_events")[0][0] == 0
    ok = post(api, event)
    assert ok.status_code == 200 and ok.json() == {"received": True, "duplicate": False}


def test_duplicates_store_once_and_book_once(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory()
    paid = load_event("invoice.paid", object={"id": "in_dup_1"})
    succeeded = load_event("invoice.payment_succeeded", object={"id": "in_dup_1"})  # same money, other event
    answers = [post(api, paid).json()["duplicate"] for _ in range(3)] + [post(api, succeeded).json()["duplicate"]]
    assert answers == [False, True, True, False]
    wait_until(lambda: settled(pg_url, 2))
    rows = q(pg_url, "SELECT entry_id, type, amount, currency, stripe_id, customer_id, occurred_at FROM ledger_entries")
    assert len(rows) == 1
    assert rows[0][1:6] == ("payment", 2000, "usd", "in_dup_1", "cus_00000000000000")
    assert int(rows[0][6].timestamp()) == paid["data"]["object"]["status_transitions"]["paid_at"]


def test_money_movements_write_one_ledger_row_each(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory()
    refund = load_event("charge.refunded")
    dispute = load_event("charge.dispute.created")
    closed = load_event("charge.dispute.created", type="charge.dispute.closed", object={"status": "won"})
    lost = load_event("charge.dispute.created", type="charge.dispute.closed",
                      object={"id": "dp_lost", "status": "lost"})
    for ev in (refund, dispute, closed, lost, refund | {"id": "evt_" + uuid.uuid4().hex}):
        assert post(api, ev).status_code == 200
    wait_until(lambda: settled(pg_url, 5))
    rows = q(pg_url, "SELECT type, stripe_id, amount FROM ledger_entries ORDER BY type")
    assert rows == [("dispute", "dp_000000000000000000000000", -100),
                    ("dispute_reversal", "dp_000000000000000000000000", 100),
                    ("refund", "re_000000000000000000000000", -100)]


def test_unknown_event_types_are_stored_and_acknowledged(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory()
    ev = load_event("payout.paid")
    ev2 = load_event("checkout.session.completed", type="brand.new.event_type")
    assert post(api, ev).status_code == 200 and post(api, ev2).status_code == 200
    wait_until(lambda: settled(pg_url, 2))
    assert sorted(q(pg_url, "SELECT type, status FROM webhook_events")) == [
        ("brand.new.event_type", "ignored"), ("payout.paid", "ignored")]
    assert q(pg_url, "SELECT count(*) FROM ledger_entries")[0][0] == 0


def _sub_event(kind: str, created: int, status: str, cancel_at_period_end: bool = False) -> dict[str, Any]:
    return load_event(f"customer.subscription.{kind}", created=created,
                      object={"id": "sub_order_1", "status": status, "cancel_at_period_end": cancel_at_period_end})


def test_reordered_subscription_events_never_regress_state(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory(worker_in_process=False)
    t0 = int(time.time()) - 100
    created = _sub_event("created", t0, "active")
    updated = _sub_event("updated", t0 + 10, "active", cancel_at_period_end=True)
    deleted = _sub_event("deleted", t0 + 20, "canceled")
    for ev in (deleted, created, updated):  # delivered newest first
        assert post(api, ev).status_code == 200
    from api.main import worker_config
    from api.services.worker import Worker

    with_pool = api.app.state.pool
    worker = Worker(with_pool, None, worker_config(api.app.state.settings))
    # process in arrival order, not created order, to exercise the version check
    for ev in (deleted, created, updated):
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("UPDATE webhook_events SET next_attempt_at = now() + interval '1 hour' WHERE id <> %s"
                         " AND status = 'pending'", (ev["id"],))
            conn.execute("UPDATE webhook_events SET next_attempt_at = now() WHERE id = %s", (ev["id"],))
        assert worker.process_one()
    assert q(pg_url, "SELECT status, state_version FROM subscriptions") == [("canceled", t0 + 20)]
    assert sorted(q(pg_url, "SELECT status FROM webhook_events")) == [("ignored",), ("ignored",), ("processed",)]


def test_dunning_past_due_then_recovery(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory()
    t0 = int(time.time()) - 100
    sub = {"subscription": "sub_dun_1"}
    post(api, load_event("customer.subscription.created", created=t0, object={"id": "sub_dun_1", "status": "active"}))
    wait_until(lambda: settled(pg_url, 1))
    post(api, load_event("invoice.payment_failed", created=t0 + 5,
                         object={**sub, "id": "in_dun_1", "attempt_count": 2, "next_payment_attempt": t0 + 3600}))
    wait_until(lambda: settled(pg_url, 2))
    assert q(pg_url, "SELECT status, dunning_attempts, next_payment_attempt IS NOT NULL FROM subscriptions") == [
        ("past_due", 2, True)]
    post(api, load_event("invoice.paid", created=t0 + 10, object={**sub, "id": "in_dun_1"}))
    wait_until(lambda: settled(pg_url, 3))
    assert q(pg_url, "SELECT status, dunning_attempts FROM subscriptions") == [("active", 0)]
    assert q(pg_url, "SELECT status, attempt_count FROM payment_attempts WHERE stripe_id = 'in_dun_1'") == [
        ("succeeded", 2)]
    # Stripe gives up: marks it unpaid → access is gone (downgrade)
    post(api, load_event("customer.subscription.updated", created=t0 + 20,
                         object={"id": "sub_dun_1", "status": "unpaid"}))
    wait_until(lambda: settled(pg_url, 4))
    assert q(pg_url, "SELECT status FROM subscriptions") == [("unpaid",)]


def test_failing_handler_backs_off_then_goes_to_manual_review(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory(worker_max_attempts=3)
    bad = load_event("charge.dispute.created", object={"currency": "xxx"})  # unknown currency: handler raises
    assert post(api, bad).status_code == 200
    wait_until(lambda: q(pg_url, "SELECT status FROM webhook_events")[0][0] == "manual_review")
    _, attempts, error = q(pg_url, "SELECT status, attempts, last_error FROM webhook_events")[0]
    assert attempts == 3 and "unknown currency" in error
    assert q(pg_url, "SELECT count(*) FROM error_logs WHERE source = 'webhook_worker'")[0][0] == 3
    assert q(pg_url, "SELECT count(*) FROM ledger_entries")[0][0] == 0


def test_duplicate_storm_small(running_api_factory: ApiFactory, pg_url: str) -> None:
    """100 distinct invoice events, each delivered 5 times concurrently → exactly 100 ledger rows."""
    api = running_api_factory()
    events = [load_event("invoice.paid", object={"id": f"in_storm_{i:04d}"}) for i in range(100)]
    deliveries = [ev for ev in events for _ in range(5)]
    with cf.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda ev: post(api, ev).status_code, deliveries))
    assert codes.count(200) == 500
    wait_until(lambda: settled(pg_url, 100), timeout=60)
    assert q(pg_url, "SELECT count(*), count(DISTINCT stripe_id) FROM ledger_entries") == [(100, 100)]
    assert q(pg_url, "SELECT count(*) FROM webhook_events")[0][0] == 100


def test_amount_mismatch_goes_to_manual_review_at_once(running_api_factory: ApiFactory, pg_url: str) -> None:
    """Stripe's amount will not change on retry: one attempt, manual_review, nothing granted or booked."""
    api = running_api_factory(worker_max_attempts=5)
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO users (id, email) VALUES ('mia', 'mia@example.test')")
        conn.execute("INSERT INTO payment_attempts (id, user_id, kind, stripe_id, pack_id, credits, amount, currency,"
                     " status) VALUES ('cp_mia', 'mia', 'credit_purchase', 'pi_mismatch_1', 'resume_5', 5, 1999,"
                     " 'usd', 'requires_confirmation')")
    event = load_event("payment_intent.succeeded", object={"id": "pi_mismatch_1", "amount": 2000})
    assert post(api, event).status_code == 200
    wait_until(lambda: q(pg_url, "SELECT status FROM webhook_events")[0][0] in ("manual_review", "processed"))
    status, attempts, error = q(pg_url, "SELECT status, attempts, last_error FROM webhook_events")[0]
    assert (status, attempts) == ("manual_review", 1)
    assert error.startswith("AmountMismatch") and "2000" in error and "1999" in error
    assert q(pg_url, "SELECT count(*) FROM error_logs WHERE source = 'webhook_worker'") == [(1,)]
    assert q(pg_url, "SELECT count(*) FROM credit_movements") == [(0,)]
    assert q(pg_url, "SELECT count(*) FROM credit_balances") == [(0,)]
    assert q(pg_url, "SELECT count(*) FROM ledger_entries") == [(0,)]
    assert q(pg_url, "SELECT status FROM payment_attempts") == [("requires_confirmation",)]
