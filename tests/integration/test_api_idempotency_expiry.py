"""Defect 2 (issue 12): an Idempotency-Key reused after it expired must charge *and* grant; a PaymentIntent of
ours that has no payment_attempts row is never `ignored`: it goes to manual review and pages on-call."""

from __future__ import annotations

from typing import Any

import psycopg
import stripe

from tests.integration.api_fixtures import ApiFactory, RunningApi, signed, wait_until
from tests.integration.http_receiver import Receiver


def q(pg_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql, params).fetchall()


def _pay_at_stripe_and_deliver(api: RunningApi, localstripe_url: str, pi_id: str) -> str:
    """What the browser (Stripe Elements) and Stripe do: confirm the PaymentIntent, then the webhook arrives."""
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": localstripe_url}, max_network_retries=0)
    client.v1.payment_intents.update(pi_id, params={"payment_method": "pm_card_visa"})
    pi = client.v1.payment_intents.confirm(pi_id).to_dict()
    assert pi["status"] == "succeeded"
    event_id = f"evt_paid_{pi_id}"
    event = {"id": event_id, "object": "event", "type": "payment_intent.succeeded", "created": pi["created"],
             "data": {"object": pi}, "livemode": False}
    body, headers = signed(event)
    assert api.client.post("/api/webhooks/stripe", content=body, headers=headers).status_code == 200
    return event_id


def test_key_reused_after_expiry_gets_a_new_operation_and_is_granted(
        running_api_factory: ApiFactory, localstripe_url: str, pg_url: str) -> None:
    api = running_api_factory(localstripe_url)
    h = {**api.token("ivy", email="ivy@example.test"), "Idempotency-Key": "daily-order"}
    first = api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_5"}, headers=h)
    assert first.status_code == 201, first.text
    # 24 h later the key has expired; the client reuses it for a new purchase
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'"
                            " WHERE user_id = 'ivy'").rowcount == 1
    second = api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_5"}, headers=h)
    assert second.status_code == 201, second.text
    pi2 = second.json()["payment_intent_id"]
    assert pi2 != first.json()["payment_intent_id"] and "idempotent-replayed" not in second.headers
    # both purchases have their own attempt row (the second was silently dropped before the fix)
    assert q(pg_url, "SELECT count(*) FROM payment_attempts WHERE user_id = 'ivy'") == [(2,)]
    event_id = _pay_at_stripe_and_deliver(api, localstripe_url, pi2)
    wait_until(lambda: q(pg_url, "SELECT status FROM webhook_events WHERE id = %s", event_id)[0][0]
               not in ("pending", "failed"))
    assert q(pg_url, "SELECT status FROM webhook_events WHERE id = %s", event_id) == [("processed",)]
    assert q(pg_url, "SELECT balance FROM credit_balances WHERE user_id = 'ivy'") == [(5,)]
    assert q(pg_url, "SELECT type, amount, stripe_id FROM ledger_entries") == [("credit_purchase", 1999, pi2)]


def test_our_payment_intent_without_a_row_goes_to_manual_review_and_pages(
        running_api_factory: ApiFactory, localstripe_url: str, pg_url: str, pager: Receiver) -> None:
    api = running_api_factory(localstripe_url)
    # a PaymentIntent created by us (metadata names our user and operation) whose attempt row is missing
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": localstripe_url}, max_network_retries=0)
    pi = client.v1.payment_intents.create(params={
        "amount": 1999, "currency": "usd",
        "metadata": {"user_id": "jon", "pack_id": "resume_5", "operation_id": "0123456789abcdef"}}).to_dict()
    event_id = _pay_at_stripe_and_deliver(api, localstripe_url, pi["id"])
    wait_until(lambda: q(pg_url, "SELECT status FROM webhook_events WHERE id = %s", event_id)[0][0]
               not in ("pending", "failed"))
    status, attempts, error = q(pg_url, "SELECT status, attempts, last_error FROM webhook_events WHERE id = %s",
                                event_id)[0]
    assert (status, attempts) == ("manual_review", 1), error
    assert pi["id"] in error
    assert q(pg_url, "SELECT count(*) FROM error_logs WHERE message LIKE %s", f"%{pi['id']}%")[0][0] >= 1
    (rule, severity, alert_status, summary), = q(
        pg_url, "SELECT rule, severity, status, summary FROM analytics.alerts")
    assert (rule, severity, alert_status) == ("payment_manual_review", "critical", "open") and pi["id"] in summary
    wait_until(lambda: pager.bodies("/slack"))
    assert pi["id"] in pager.bodies("/slack")[0]["text"]
    assert q(pg_url, "SELECT paged_at IS NOT NULL FROM analytics.alerts") == [(True,)]
    assert q(pg_url, "SELECT count(*) FROM credit_movements") == [(0,)]


def test_foreign_payment_intent_is_still_ignored(running_api_factory: ApiFactory, localstripe_url: str, pg_url: str) -> None:
    """A PaymentIntent not created by cashbook (no metadata of ours) is acknowledged and ignored, as before."""
    api = running_api_factory(localstripe_url)
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": localstripe_url}, max_network_retries=0)
    pi = client.v1.payment_intents.create(params={"amount": 500, "currency": "usd"}).to_dict()
    event_id = _pay_at_stripe_and_deliver(api, localstripe_url, pi["id"])
    wait_until(lambda: q(pg_url, "SELECT status FROM webhook_events WHERE id = %s", event_id)[0][0]
               not in ("pending", "failed"))
    assert q(pg_url, "SELECT status FROM webhook_events WHERE id = %s", event_id) == [("ignored",)]
