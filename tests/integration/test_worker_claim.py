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
import stripe

from api.main import worker_config
from api.services.worker import Worker
from tests.integration.api_fixtures import ApiFactory, RunningApi, load_event, signed, wait_until


def post(api: RunningApi, event: dict[str, Any]) -> None:
    body, headers = signed(event)
    assert api.client.post("/api/webhooks/stripe", content=body, headers=headers).status_code == 200


def q(pg_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql, params).fetchall()


def refund_event_without_refunds(localstripe_url: str) -> tuple[dict[str, Any], str]:
    """charge.refunded without its refund list, as newer API versions send it: the handler must ask Stripe."""
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": localstripe_url}, max_network_retries=0)
    pi = client.v1.payment_intents.create(params={"amount": 1200, "currency": "usd", "payment_method": "pm_card_visa",
                                                  "confirm": True}).to_dict()
    charge_id = pi["latest_charge"]["id"] if isinstance(pi["latest_charge"], dict) else pi["latest_charge"]
    refund = client.v1.refunds.create(params={"charge": charge_id, "amount": 500}).to_dict()
    charge = client.v1.charges.retrieve(charge_id).to_dict()
    charge.pop("refunds", None)
    event = {"id": "evt_claim_refund", "object": "event", "type": "charge.refunded", "created": charge["created"],
             "data": {"object": charge}, "livemode": False}
    return event, refund["id"]


def test_one_claimed_batch_books_each_event_on_its_own_terms(
        running_api_factory: ApiFactory, localstripe_url: str, pg_url: str) -> None:
    api = running_api_factory(localstripe_url, worker_in_process=False, worker_claim=10, worker_backoff_seconds=60)
    refund_event, refund_id = refund_event_without_refunds(localstripe_url)
    paid = [load_event("invoice.paid", created=1_700_000_000 + i, object={"id": f"in_claim_{i}"}) for i in range(3)]
    # an amount beyond bigint: Postgres refuses the ledger insert, which aborts the handler's savepoint only
    broken = load_event("invoice.paid", created=1_700_000_010, object={"id": "in_claim_broken", "amount_paid": 10**20})
    unknown = load_event("invoice.paid", created=1_700_000_020, type="invoice.upcoming")
    for event in (*paid, broken, unknown, refund_event):
        post(api, event)

    worker = Worker(api.app.state.pool, api.app.state.gateway, worker_config(api.app.state.settings))
    assert worker.config.claim == 10
    assert worker.process_claimed(10) == 6
    assert worker.process_claimed(10) == 0  # nothing is due any more: the failed event waits for its backoff

    rows = {r[0]: r[1:] for r in q(pg_url, "SELECT id, status, attempts, last_error IS NOT NULL, xmin::text::bigint"
                                           " FROM webhook_events")}
    assert {e["id"]: rows[e["id"]][:3] for e in paid} == {e["id"]: ("processed", 1, False) for e in paid}
    assert rows[unknown["id"]][:3] == ("ignored", 1, False)
    assert rows[broken["id"]][:3] == ("failed", 1, True)
    assert rows[refund_event["id"]][:3] == ("processed", 1, False)
    # the five handled in the batch were marked by one transaction; the refund by a second one, after the fetch
    batch_xids = {rows[e["id"]][3] for e in (*paid, broken, unknown)}
    assert len(batch_xids) == 1 and rows[refund_event["id"]][3] not in batch_xids
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


def test_concurrent_workers_claiming_batches_book_every_event_once(
        running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory(worker_in_process=False, worker_claim=4, worker_batch=6)
    events = [load_event("invoice.paid", object={"id": f"in_race_{i}"}) for i in range(60)]
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


def test_an_event_whose_handler_loses_a_deadlock_in_a_batch_is_handled_alone(
        running_api_factory: ApiFactory, pg_url: str) -> None:
    """A batch keeps the object locks of the events it handled until it commits, so it can close a cycle with
    another writer that single events could not: the loser is handled in its own transaction after the commit,
    with no failed attempt recorded."""
    from api.services.state import lock_object

    api = running_api_factory(worker_in_process=False, worker_claim=10)
    first = load_event("invoice.paid", created=1_700_000_000, object={"id": "in_lock_x"})
    second = load_event("invoice.paid", created=1_700_000_001, object={"id": "in_lock_y"})
    for event in (first, second):
        post(api, event)
    worker = Worker(api.app.state.pool, None, worker_config(api.app.state.settings))
    handled: list[int] = []
    with psycopg.connect(pg_url) as other:  # another writer: holds in_lock_y, then asks for in_lock_x
        other.execute("SET deadlock_timeout = '60s'")  # so the worker's backend is the one that finds the cycle
        lock_object(other, "in_lock_y")
        thread = threading.Thread(target=lambda: handled.append(worker.process_claimed(10)))
        thread.start()
        # the batch has booked in_lock_x (and holds its lock) and now waits for in_lock_y
        wait_until(lambda: q(pg_url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                     " AND NOT granted")[0][0] == 1)
        lock_object(other, "in_lock_x")  # closes the cycle; granted once the batch commits without in_lock_y
        other.commit()
    thread.join(timeout=30)
    assert handled == [2]
    rows = {r[0]: r[1:] for r in q(pg_url, "SELECT id, status, attempts, last_error, xmin::text FROM webhook_events")}
    assert rows[first["id"]][:3] == ("processed", 1, None) and rows[second["id"]][:3] == ("processed", 1, None)
    assert rows[first["id"]][3] != rows[second["id"]][3]  # two transactions
    assert q(pg_url, "SELECT count(*) FROM error_logs") == [(0,)]
    assert sorted(q(pg_url, "SELECT stripe_id FROM ledger_entries")) == [("in_lock_x",), ("in_lock_y",)]
