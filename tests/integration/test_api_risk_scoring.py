"""Fraud risk scoring over real HTTP (issue 12): scores, decisions and reasons land in payment_attempts; a
blocked attempt never reaches Stripe (localstripe shows nothing created)."""

from __future__ import annotations

from typing import Any

import psycopg
import stripe

from tests.integration.api_fixtures import ApiFactory


def q(pg_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql, params).fetchall()


def stripe_objects(url: str) -> tuple[int, int, int]:
    c = stripe.StripeClient("sk_test_x", base_addresses={"api": url}, max_network_retries=0)
    return (len(c.v1.payment_intents.list(params={"limit": 100}).data),
            len(c.v1.subscriptions.list(params={"limit": 100}).data),
            len(c.v1.customers.list(params={"limit": 100}).data))


def test_velocity_blocks_before_stripe(running_api_factory: ApiFactory, localstripe_url: str, pg_url: str) -> None:
    api = running_api_factory(localstripe_url, worker_in_process=False, risk_max_user_attempts=2,
                              risk_points={"user_velocity": 80})
    h = api.token("vic")
    for _ in range(2):
        assert api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_1"}, headers=h).status_code == 201
    before = stripe_objects(localstripe_url)
    r = api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_1"}, headers=h)
    assert r.status_code == 402 and r.json()["type"].endswith("payment_blocked"), r.text
    assert "velocity" not in r.text  # reasons stay server-side
    assert stripe_objects(localstripe_url) == before
    (status, score, decision, reasons, ip), = q(pg_url, "SELECT status, risk_score, risk_decision, risk_reasons,"
                                                        " client_ip FROM payment_attempts WHERE status = 'blocked'")
    assert (status, decision, ip) == ("blocked", "block", "127.0.0.1") and score >= 80
    assert "user_velocity" in [x["signal"] for x in reasons]
    # a subscription attempt by the same user is blocked too, and creates nothing at Stripe
    r = api.client.post("/api/billing/create-subscription", json={"plan_id": "pro_monthly",
                                                                  "payment_method": "pm_card_visa"}, headers=h)
    assert r.status_code == 402
    assert stripe_objects(localstripe_url) == before
    assert q(pg_url, "SELECT kind, status FROM payment_attempts WHERE kind = 'subscription'") == [
        ("subscription", "blocked")]
    assert q(pg_url, "SELECT count(*) FROM subscription_claims") == [(0,)]
    # the history shows the refused attempts to their owner
    kinds = [(i["kind"], i["status"]) for i in api.client.get("/api/billing/history", headers=h).json()["items"]]
    assert ("subscription", "blocked") in kinds and ("credit_purchase", "blocked") in kinds


def test_shared_card_and_country_mismatch_go_to_review(running_api_factory: ApiFactory, localstripe_url: str,
                                                        pg_url: str) -> None:
    # 10 + 25 + 50 = 85 would block at the default 80; a block threshold of 90 shows the review band
    api = running_api_factory(localstripe_url, worker_in_process=False, risk_max_card_users=2,
                              risk_ip_country_header="CF-IPCountry", risk_block_score=90)
    for user in ("c1", "c2", "c3"):
        r = api.client.post("/api/billing/create-subscription",
                            json={"plan_id": "pro_monthly", "payment_method": "pm_card_visa"},
                            headers={**api.token(user), "CF-IPCountry": "US"})
        assert r.status_code == 201, r.text  # review is not a refusal
    rows = q(pg_url, "SELECT user_id, risk_decision, risk_reasons, card_country, ip_country, status"
                     " FROM payment_attempts WHERE kind = 'subscription' ORDER BY created_at")
    signals = {u: sorted(x["signal"] for x in reasons) for u, _, reasons, *_ in rows}
    assert signals["c1"] == ["country_mismatch", "new_account"]  # localstripe cards are issued in FR
    assert signals["c3"] == ["card_velocity", "country_mismatch", "new_account"]
    assert [d for _, d, *_ in rows] == ["allow", "allow", "review"]
    assert {(cc, ic, st) for *_, cc, ic, st in rows} == {("FR", "US", "active")}
