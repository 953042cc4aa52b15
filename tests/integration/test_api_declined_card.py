"""Defect 3 (issue 12): a declined card on create-subscription must not lock the user out of billing.

Stripe is localstripe behind the idempotency proxy (tests/integration/stripe_idempotency_proxy.py), so a
Stripe idempotency key replayed with other parameters is refused as real Stripe refuses it.
"""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import stripe

from tests.integration.api_fixtures import ApiFactory


def q(pg_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql, params).fetchall()


def test_declined_card_then_another_card_and_a_purchase_one_customer(
        running_api_factory: ApiFactory, stripe_idempotent: str, localstripe_url: str, pg_url: str) -> None:
    api = running_api_factory(stripe_idempotent)
    h = api.token("kim", email="kim@example.test")
    declined = api.client.post("/api/billing/create-subscription",
                               json={"plan_id": "pro_monthly", "payment_method": "pm_card_visa_chargeDeclined"},
                               headers={**h, "Idempotency-Key": "sub-try-1"})
    assert declined.status_code == 402, declined.text
    assert declined.headers["content-type"] == "application/problem+json"
    ok = api.client.post("/api/billing/create-subscription",
                         json={"plan_id": "pro_monthly", "payment_method": "pm_card_visa"},
                         headers={**h, "Idempotency-Key": "sub-try-2"})
    assert ok.status_code == 201, ok.text
    assert ok.json()["status"] == "active" and ok.json()["has_access"]
    buy = api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_1"},
                          headers={**h, "Idempotency-Key": "buy-1"})
    assert buy.status_code == 201, buy.text
    stats = httpx.get(f"{stripe_idempotent}/_proxy/stats").json()
    assert stats["idempotency_errors"] == 0, stats
    # one Stripe customer for kim, and it is the one we stored
    direct = stripe.StripeClient("sk_test_x", base_addresses={"api": localstripe_url}, max_network_retries=0)
    customers = [c for c in (x.to_dict() for x in direct.v1.customers.list(params={"limit": 100}).data)
                 if (c.get("metadata") or {}).get("user_id") == "kim"]
    assert len(customers) == 1, [c["id"] for c in customers]
    assert q(pg_url, "SELECT stripe_customer_id FROM users WHERE id = 'kim'") == [(customers[0]["id"],)]
    pi = direct.v1.payment_intents.retrieve(buy.json()["payment_intent_id"])
    assert pi.customer == customers[0]["id"]
