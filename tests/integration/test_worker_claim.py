"""The webhook worker's claimed batches (api/services/worker.py, `process_claimed`): several due events per
transaction, each in its own savepoint, over real HTTP intake, real Postgres and localstripe.

What must hold when events share a transaction: each event's effects and its processed mark commit together;
a failing handler leaves the others booked; an event whose handler needs Stripe is fetched and booked after the
commit, in a transaction of its own; concurrent workers never book an event twice.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from api.main import worker_config
from api.services.worker import Worker
from tests.integration.api_fixtures import (
    ApiFactory,
    RunningApi,
    load_event,
    refunded_charge_event,
    signed,
    wait_until,
)
from tests.integration.http_receiver import Receiver


def post(api: RunningApi, event: dict[str, Any]) -> None:
    body, headers = signed(event)
    assert api.client.post("/api/webhooks/stripe", content=body, headers=headers).status_code == 200


def q(pg_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql, params).fetchall()


def test_one_claimed_batch_books_each_event_on_its_own_terms(
        running_api_factory: ApiFactory, localstripe_url: str, pg_url: str) -> None:
    api = running_api_factory(localstripe_url, worker_in_process=False, worker_claim=10, worker_backoff_seconds=60)
    refund_event, refund_id = refunded_charge_event(localstripe_url, "evt_claim_refund")
    refund_event["created"] = 1_700_000_005  # claimed in the middle: after the payments, before the rest
    paid = [load_event("invoice.paid", created=1_700_000_000 + i, object={"id": f"in_claim_{i}"}) for i in range(3)]
    # an amount beyond bigint: Postgres refuses the ledger insert, which aborts the handler's savepoint only
    broken = load_event("invoice.paid", created=1_700_000_010, object={"id": "in_claim_broken", "amount_paid": 10**20})
    unknown = load_event("invoice.paid", created=1_700_000_020, type="invoice.upcoming")
    for event in (unknown, broken, refund_event, *paid):  # arrival order does not matter: claims go by `created`
        post(api, event)

    worker = Worker(api.app.state.pool, api.app.state.gateway, worker_config(api.app.state.settings))
    assert worker.config.claim == 10
    # the batch books the three payments, stops at the refund (it needs Stripe), commits, then books the refund
    # alone; the two claimed after it go back untouched and come in the next claim
    assert worker.process_claimed(10) == 4
    assert q(pg_url, "SELECT status FROM webhook_events WHERE id IN (%s, %s)", broken["id"], unknown["id"]) == [
        ("pending",), ("pending",)]
    assert worker.process_claimed(10) == 2
    assert worker.process_claimed(10) == 0  # nothing is due any more: the failed event waits for its backoff

    rows = {r[0]: r[1:] for r in q(pg_url, "SELECT id, status, attempts, last_error IS NOT NULL, xmin::text"
                                           " FROM webhook_events")}
    assert {e["id"]: rows[e["id"]][:3] for e in paid} == {e["id"]: ("processed", 1, False) for e in paid}
    assert rows[refund_event["id"]][:3] == ("processed", 1, False)
    assert rows[broken["id"]][:3] == ("failed", 1, True)
    assert rows[unknown["id"]][:3] == ("ignored", 1, False)
    # the payments' batch, the refund alone, then the rest (a failure is recorded in a savepoint of its own, so
    # the failed row carries that subtransaction's id): a successful mark carries its transaction's id
    assert len({rows[e["id"]][3] for e in paid}) == 1
    assert len({rows[paid[0]["id"]][3], rows[refund_event["id"]][3], rows[unknown["id"]][3]}) == 3
    booked = [i for (i,) in q(pg_url, "SELECT id FROM webhook_events WHERE processed_at IS NOT NULL"
                                      " ORDER BY processed_at")]
    assert booked == [*(e["id"] for e in paid), refund_event["id"], unknown["id"]]  # in claim order
    ledger = sorted(q(pg_url, "SELECT type, stripe_id, amount FROM ledger_entries"))
    assert ledger == sorted([("payment", f"in_claim_{i}", e["data"]["object"]["amount_paid"])
                             for i, e in enumerate(paid)] + [("refund", refund_id, -500)])
    errors = q(pg_url, "SELECT count(*) FROM error_logs WHERE context->>'event_id' = %s", broken["id"])
    assert errors == [(1,)]


def test_process_one_still_takes_one_event_per_transaction(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory(worker_in_process=False)
    for i in range(3):
        post(api, load_event("invoice.paid", object={"id": f"in_one_{i}"}))
    worker = Worker(api.app.state.pool, None, worker_config(api.app.state.settings))
    assert worker.process_one()
    assert q(pg_url, "SELECT status, count(*) FROM webhook_events GROUP BY 1 ORDER BY 1") == [
        ("pending", 2), ("processed", 1)]
    assert worker.process_one() and worker.process_one() and not worker.process_one()
    assert len({x for (x,) in q(pg_url, "SELECT xmin::text FROM webhook_events")}) == 3


def test_process_batch_claims_the_configured_number_per_transaction(
        running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory(worker_in_process=False, worker_claim=3)
    for i in range(7):
        post(api, load_event("invoice.paid", created=1_700_000_000 + i, object={"id": f"in_three_{i}"}))
    worker = Worker(api.app.state.pool, None, worker_config(api.app.state.settings))
    assert worker.process_batch() == 7
    sizes = sorted(n for (n,) in q(pg_url, "SELECT count(*) FROM webhook_events WHERE status = 'processed'"
                                           " GROUP BY xmin::text"))
    assert sizes == [1, 3, 3]


def test_concurrent_workers_claiming_batches_book_every_event_once(
        running_api_factory: ApiFactory, pg_url: str) -> None:
    """Every invoice names the same subscription, so every batch takes the same object lock: batches wait on each
    other, give up after the lock timeout and hand such events to transactions of their own."""
    api = running_api_factory(worker_in_process=False, worker_claim=4, worker_batch=6)
    events = [load_event("invoice.paid", object={"id": f"in_race_{i}", "subscription": "sub_race"})
              for i in range(60)]
    for event in events:
        post(api, event)
    workers = [Worker(api.app.state.pool, None, worker_config(api.app.state.settings)) for _ in range(3)]
    counts = [0, 0, 0]

    def drain(i: int) -> None:
        while n := workers[i].process_batch():
            counts[i] += n

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(counts) == 60
    assert q(pg_url, "SELECT status, attempts, count(*) FROM webhook_events GROUP BY 1, 2") == [("processed", 1, 60)]
    assert q(pg_url, "SELECT count(*), count(DISTINCT stripe_id) FROM ledger_entries") == [(60, 60)]
    assert q(pg_url, "SELECT count(*) FROM error_logs") == [(0,)]


def test_a_batch_never_holds_its_locks_while_waiting_for_another_writer(
        running_api_factory: ApiFactory, pg_url: str) -> None:
    """A batch keeps the object locks of the events it booked until it commits. Waiting on another writer while
    holding them could close a cycle that single events never could (an API request confirming a payment waits
    on the batch, the batch on the request), so the batch gives up on a held lock after BATCH_LOCK_TIMEOUT,
    commits what it booked and handles that event alone, with no failed attempt recorded."""
    from api.services.state import lock_object

    api = running_api_factory(worker_in_process=False, worker_claim=10)
    first = load_event("invoice.paid", created=1_700_000_000, object={"id": "in_lock_x"})
    second = load_event("invoice.paid", created=1_700_000_001, object={"id": "in_lock_y"})
    for event in (first, second):
        post(api, event)
    worker = Worker(api.app.state.pool, None, worker_config(api.app.state.settings))
    handled: list[int] = []

    def status(event: dict[str, Any]) -> str:
        return q(pg_url, "SELECT status FROM webhook_events WHERE id = %s", event["id"])[0][0]

    with psycopg.connect(pg_url) as other:  # another writer holds in_lock_y
        lock_object(other, "in_lock_y")
        thread = threading.Thread(target=lambda: handled.append(worker.process_claimed(10)))
        thread.start()
        # in_lock_x is booked and committed while in_lock_y is still held elsewhere
        wait_until(lambda: status(first) == "processed")
        assert status(second) == "pending"
        lock_object(other, "in_lock_x")  # the batch's lock is free again: no cycle, no deadlock for this writer
        other.commit()
    thread.join(timeout=30)
    assert handled == [2]
    rows = {r[0]: r[1:] for r in q(pg_url, "SELECT id, status, attempts, last_error, xmin::text FROM webhook_events")}
    assert rows[first["id"]][:3] == ("processed", 1, None) and rows[second["id"]][:3] == ("processed", 1, None)
    assert rows[first["id"]][3] != rows[second["id"]][3]  # two transactions
    assert q(pg_url, "SELECT count(*) FROM error_logs") == [(0,)]
    assert sorted(q(pg_url, "SELECT stripe_id FROM ledger_entries")) == [("in_lock_x",), ("in_lock_y",)]


def test_a_payment_for_manual_review_in_a_batch_is_parked_and_paged_after_the_commit(
        running_api_factory: ApiFactory, pg_url: str, pager: Receiver) -> None:
    """A PaymentIntent of ours with no attempt row cannot be granted: it is parked, its alert row is written in the
    batch's transaction, and on-call is paged once that commits; the events around it are booked as usual."""
    api = running_api_factory(worker_in_process=False, worker_claim=10)
    before = load_event("invoice.paid", created=1_700_000_000, object={"id": "in_around_0"})
    unmatched = load_event("payment_intent.succeeded", created=1_700_000_001, object={
        "id": "pi_claim_unmatched", "status": "succeeded", "amount": 1999, "currency": "usd",
        "metadata": {"user_id": "jon", "pack_id": "resume_5", "operation_id": "0123456789abcdef"}})
    after = load_event("invoice.paid", created=1_700_000_002, object={"id": "in_around_1"})
    for event in (before, unmatched, after):
        post(api, event)
    worker = Worker(api.app.state.pool, None, worker_config(api.app.state.settings))
    assert worker.process_claimed(10) == 3

    statuses = dict(q(pg_url, "SELECT id, status FROM webhook_events"))
    assert statuses == {before["id"]: "processed", unmatched["id"]: "manual_review", after["id"]: "processed"}
    assert sorted(q(pg_url, "SELECT stripe_id FROM ledger_entries")) == [("in_around_0",), ("in_around_1",)]
    assert q(pg_url, "SELECT count(*) FROM credit_movements") == [(0,)]
    (rule, alert_status, paged), = q(pg_url, "SELECT rule, status, paged_at IS NOT NULL FROM analytics.alerts")
    assert (rule, alert_status, paged) == ("payment_manual_review", "open", True)
    pages = pager.bodies("/slack")
    assert len(pages) == 1 and "pi_claim_unmatched" in pages[0]["text"]
