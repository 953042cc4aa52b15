"""Billing endpoints over real HTTP against real Postgres and localstripe (a separate process)."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time
from typing import Any

import httpx
import psycopg
import stripe

from tests.integration.api_fixtures import WEBHOOK_SECRET, ApiFactory, signed, wait_until


def q(pg_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql, params).fetchall()


def test_auth_catalog_health(running_api_factory: ApiFactory, localstripe_url: str) -> None:
    api = running_api_factory(localstripe_url)
    r = api.client.get("/api/billing/plans")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert api.client.get("/api/billing/plans", headers={"Authorization": "Bearer nope"}).status_code == 401
    catalog = api.client.get("/api/billing/plans", headers=api.token("u1")).json()
    assert {p["id"] for p in catalog["plans"]} == {"pro_monthly", "team_monthly"}
    pack = next(p for p in catalog["credit_packs"] if p["id"] == "resume_5")
    assert (pack["amount"], pack["amount_display"], pack["credits"]) == (1999, "19.99", 5)
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"postgres": "ok", "stripe": "ok"}
    assert "/api/billing/create-subscription" in api.client.get("/openapi.json").json()["paths"]


def test_readyz_reports_unreachable_stripe(running_api_factory: ApiFactory) -> None:
    api = running_api_factory(None)  # gateway pointed at a closed port
    r = api.client.get("/readyz")  # webhook intake does not need Stripe: ready, Stripe reported as detail
    assert r.status_code == 200 and r.json()["checks"]["postgres"] == "ok" and r.json()["status"] == "degraded"
    assert r.json()["checks"]["stripe"].startswith("unavailable")


def test_subscription_lifecycle(running_api_factory: ApiFactory, localstripe_url: str, pg_url: str) -> None:
    api = running_api_factory(localstripe_url)
    h = api.token("alice", email="alice@example.test")
    r = api.client.post("/api/billing/create-subscription", json={"plan_id": "pro_monthly",
                                                                  "payment_method": "pm_card_visa"}, headers=h)
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["status"] == "active" and sub["plan_id"] == "pro_monthly" and sub["has_access"]
    # the first invoice's money is in the ledger exactly once, in minor units
    rows = q(pg_url, "SELECT type, amount, currency, stripe_id LIKE 'in_%%' FROM ledger_entries")
    assert rows == [("payment", 1500, "usd", True)]
    again = api.client.post("/api/billing/create-subscription", json={"plan_id": "pro_monthly"}, headers=h)
    assert again.status_code == 409 and again.json()["subscription_id"] == sub["subscription_id"]
    # amounts are server-side: a client-sent amount is rejected, not ignored
    assert api.client.post("/api/billing/create-subscription", json={"plan_id": "pro_monthly", "amount": 1},
                           headers=h).status_code == 422
    # cancel at period end: access kept
    r = api.client.post("/api/billing/cancel-subscription", headers=h)
    assert r.status_code == 200 and r.json()["cancel_at_period_end"] and r.json()["has_access"]
    st = api.client.get("/api/billing/status", headers=h).json()
    assert st["plan_id"] == "pro_monthly" and st["has_access"] and st["cancel_at_period_end"]
    # immediate cancel: access gone, plan downgraded
    r = api.client.post("/api/billing/cancel-subscription", json={"immediately": True}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "canceled" and not r.json()["has_access"]
    st = api.client.get("/api/billing/status", headers=h).json()
    assert st["plan_id"] is None and not st["has_access"]
    # someone else sees nothing of alice's
    other = api.client.get("/api/billing/status", headers=api.token("bob")).json()
    assert other["subscription_id"] is None and other["status"] == "none"
    history = [s for (s,) in q(pg_url, "SELECT status FROM subscription_history ORDER BY id")]
    assert history[0] == "active" and history[-1] == "canceled"


def test_credit_purchase_granted_once_across_confirm_and_webhooks(
        running_api_factory: ApiFactory, localstripe_url: str, pg_url: str) -> None:
    api = running_api_factory(localstripe_url)
    # localstripe delivers its own webhooks (once, ~1 s later) to our endpoint, signed with our secret
    httpx.post(f"{localstripe_url}/_config/webhooks/cashbook",
               data={"url": f"{api.url}/api/webhooks/stripe", "secret": WEBHOOK_SECRET}).raise_for_status()
    h = api.token("carol", email="carol@example.test")
    r = api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_5"}, headers=h)
    assert r.status_code == 201, r.text
    purchase = r.json()
    assert purchase["client_secret"].startswith(purchase["payment_intent_id"])
    assert (purchase["amount"], purchase["currency"], purchase["credits"]) == (1999, "usd", 5)
    pi_id = purchase["payment_intent_id"]
    # bob cannot settle carol's payment
    assert api.client.post("/api/billing/confirm-payment", json={"payment_intent_id": pi_id},
                           headers=api.token("bob")).status_code == 404
    r = api.client.post("/api/billing/confirm-payment", json={"payment_intent_id": pi_id,
                                                              "payment_method": "pm_card_visa"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {"payment_intent_id": pi_id, "status": "succeeded", "credits_granted": True, "credits": 5}
    # a replayed payment_intent.succeeded (the real object from localstripe) and a second confirm grant nothing
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": localstripe_url}, max_network_retries=0)
    pi = client.v1.payment_intents.retrieve(pi_id).to_dict()
    event = {"id": "evt_replay_1", "object": "event", "type": "payment_intent.succeeded", "created": pi["created"],
             "data": {"object": pi}, "livemode": False}
    body, headers = signed(event)
    assert api.client.post("/api/webhooks/stripe", content=body, headers=headers).status_code == 200
    again = api.client.post("/api/billing/confirm-payment", json={"payment_intent_id": pi_id}, headers=h).json()
    assert again["credits_granted"] is False and again["credits"] == 5
    # localstripe's own delivery arrives too; wait until both events are processed
    wait_until(lambda: q(pg_url, "SELECT count(*) FROM webhook_events WHERE type = 'payment_intent.succeeded'"
                                 " AND status = 'processed'")[0][0] >= 2)
    assert q(pg_url, "SELECT balance FROM credit_balances WHERE user_id = 'carol'") == [(5,)]
    assert q(pg_url, "SELECT count(*) FROM credit_movements") == [(1,)]
    assert q(pg_url, "SELECT type, amount, currency, stripe_id FROM ledger_entries") == [
        ("credit_purchase", 1999, "usd", pi_id)]
    wait_until(lambda: q(pg_url, "SELECT status FROM email_outbox") == [("logged",)])
    assert q(pg_url, "SELECT to_addr FROM email_outbox") == [("carol@example.test",)]
    hist = api.client.get("/api/billing/history", params={"limit": 1}, headers=h).json()
    assert [i["stripe_id"] for i in hist["items"]] == [pi_id] and hist["next_cursor"] is None
    assert api.client.get("/api/billing/history", headers=api.token("bob")).json()["items"] == []


def test_idempotency_key_replays_and_conflicts(running_api_factory: ApiFactory, localstripe_url: str, pg_url: str) -> None:
    api = running_api_factory(localstripe_url)
    h = {**api.token("dave"), "Idempotency-Key": "k-123"}
    first = api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_1"}, headers=h)
    second = api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_1"}, headers=h)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json() and second.headers["idempotent-replayed"] == "true"
    assert q(pg_url, "SELECT count(*) FROM payment_attempts") == [(1,)]
    clash = api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_5"}, headers=h)
    assert clash.status_code == 409 and clash.json()["type"].endswith("idempotency_key_reused")
    # the same key from another user is another key
    other = api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_5"},
                            headers={**api.token("erin"), "Idempotency-Key": "k-123"})
    assert other.status_code == 201 and other.json()["payment_intent_id"] != first.json()["payment_intent_id"]
    # a stored client error is replayed as well
    bad = api.client.post("/api/billing/purchase-resume", json={"pack_id": "nope"},
                          headers={**api.token("dave"), "Idempotency-Key": "k-404"})
    bad2 = api.client.post("/api/billing/purchase-resume", json={"pack_id": "nope"},
                           headers={**api.token("dave"), "Idempotency-Key": "k-404"})
    assert bad.status_code == bad2.status_code == 404 and bad2.headers["content-type"] == "application/problem+json"


def test_abandoned_idempotency_claim_is_taken_over_after_the_lease(
        running_api_factory: ApiFactory, stripe_idempotent: str, pg_url: str) -> None:
    """A claim left by a crashed process (status NULL) blocks only for the lease, not for the key's 24 h."""
    api = running_api_factory(stripe_idempotent)
    h = {**api.token("fay"), "Idempotency-Key": "k-crash"}
    first = api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_1"}, headers=h)
    assert first.status_code == 201, first.text

    def abandon(age_seconds: int) -> None:
        """What a crash after the Stripe call and before storing the response leaves behind."""
        with psycopg.connect(pg_url) as conn:
            n = conn.execute("UPDATE idempotency_keys SET status_code = NULL, response = NULL,"
                             " locked_at = now() - make_interval(secs => %s) WHERE user_id = 'fay' AND key = 'k-crash'",
                             (age_seconds,)).rowcount
            assert n == 1

    abandon(5)  # a fresh claim: its holder may still be running
    busy = api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_1"}, headers=h)
    assert busy.status_code == 409 and busy.json()["type"].endswith("idempotency_in_progress")
    abandon(int(api.app.state.lease_seconds) + 60)  # older than the lease (derived from the Stripe timeouts)
    other_body = api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_5"}, headers=h)
    assert other_body.status_code == 409 and other_body.json()["type"].endswith("idempotency_key_reused")
    retry = api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_1"}, headers=h)
    assert retry.status_code == 201 and "idempotent-replayed" not in retry.headers
    # the retry runs under the claim's stored operation id, so the same Stripe idempotency key: Stripe (here
    # the idempotency proxy in front of localstripe) replays the same PaymentIntent and no row is duplicated
    assert retry.json()["payment_intent_id"] == first.json()["payment_intent_id"]
    assert q(pg_url, "SELECT count(*) FROM payment_attempts") == [(1,)]
    assert q(pg_url, "SELECT status_code FROM idempotency_keys WHERE key = 'k-crash'") == [(201,)]
    replay = api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_1"}, headers=h)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"


def test_concurrent_create_subscription_bills_once(running_api_factory: ApiFactory, localstripe_url: str, pg_url: str) -> None:
    """Two create-subscription requests at once with different Idempotency-Keys: one 201, one 409, one at Stripe."""
    api = running_api_factory(localstripe_url)
    barrier = threading.Barrier(2)

    def create(key: str) -> httpx.Response:
        with httpx.Client(base_url=api.url, timeout=30) as client:
            barrier.wait()
            return client.post("/api/billing/create-subscription",
                               json={"plan_id": "pro_monthly", "payment_method": "pm_card_visa"},
                               headers={**api.token("gus", email="gus@example.test"), "Idempotency-Key": key})

    with cf.ThreadPoolExecutor(2) as pool:
        answers = sorted(pool.map(create, ["k-a", "k-b"]), key=lambda r: r.status_code)
    assert [r.status_code for r in answers] == [201, 409], [r.text for r in answers]
    # the loser either found the winner's claim (still at Stripe) or its finished subscription
    loser = answers[1].json()
    assert loser["type"].endswith(("subscription_in_progress", "already_subscribed")), loser
    if loser["type"].endswith("already_subscribed"):
        assert loser["subscription_id"] == answers[0].json()["subscription_id"]
    assert q(pg_url, "SELECT count(*) FROM subscription_claims") == [(0,)]
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": localstripe_url}, max_network_retries=0)
    subs = client.v1.subscriptions.list(params={"limit": 100}).data  # a fresh localstripe: every subscription
    assert [s.id for s in subs] == [answers[0].json()["subscription_id"]]
    (customer,) = q(pg_url, "SELECT stripe_customer_id FROM users WHERE id = 'gus'")[0]
    assert subs[0].customer == customer
    assert q(pg_url, "SELECT count(*) FROM subscriptions") == [(1,)]
    assert q(pg_url, "SELECT count(*) FROM ledger_entries") == [(1,)]


def test_webhook_after_api_write_applies_when_our_clock_runs_ahead(
        running_api_factory: ApiFactory, localstripe_behind: str, pg_url: str) -> None:
    """API writes carry Stripe's timestamps, so a later Stripe event is not dropped as stale by our own clock."""
    api = running_api_factory(localstripe_behind)
    h = api.token("hal", email="hal@example.test")
    r = api.client.post("/api/billing/create-subscription", json={"plan_id": "pro_monthly",
                                                                  "payment_method": "pm_card_visa"}, headers=h)
    assert r.status_code == 201, r.text
    sub_id = r.json()["subscription_id"]
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": localstripe_behind}, max_network_retries=0)
    sub = client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True}).to_dict()
    assert sub["created"] < time.time() - 3000  # Stripe's clock is an hour behind ours
    assert q(pg_url, "SELECT state_version, cancel_at_period_end FROM subscriptions") == [(sub["created"], False)]
    later = sub["created"] + 30  # a genuinely later event on Stripe's clock
    event = {"id": "evt_clock_1", "object": "event", "type": "customer.subscription.updated", "created": later,
             "data": {"object": sub}, "livemode": False}
    body, headers = signed(event)
    assert api.client.post("/api/webhooks/stripe", content=body, headers=headers).status_code == 200
    wait_until(lambda: q(pg_url, "SELECT status FROM webhook_events WHERE id = 'evt_clock_1'")[0][0]
               in ("processed", "ignored"))
    assert q(pg_url, "SELECT status FROM webhook_events WHERE id = 'evt_clock_1'") == [("processed",)]
    assert q(pg_url, "SELECT state_version, cancel_at_period_end FROM subscriptions") == [(later, True)]
    st = api.client.get("/api/billing/status", headers=h).json()
    assert st["cancel_at_period_end"] and st["has_access"]
