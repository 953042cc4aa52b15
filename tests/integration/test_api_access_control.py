"""Access control for every route in the OpenAPI document (issue 12).

- Billing routes: user A never reads or changes user B's data, whatever B's identifiers A sends.
- Admin routes: refused to a user token, an expired admin token, a wrong-audience token, an over-long admin
  token, and an admin token of a user without the role.
- Every route of the document is classified here, so a new route fails this test until it is.
"""

from __future__ import annotations

import re
import time
from typing import Any

import jwt
import psycopg

from tests.integration.api_fixtures import JWT_SECRET, ApiFactory

NO_USER_DATA = {("get", "/healthz"), ("get", "/readyz"), ("post", "/api/webhooks/stripe")}


def q(pg_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql, params).fetchall()


def bearer(**claims: Any) -> dict[str, str]:
    now = int(time.time())
    base = {"sub": "ops", "iss": "cashbook", "aud": "cashbook-admin", "iat": now, "exp": now + 300}
    return {"Authorization": f"Bearer {jwt.encode({**base, **claims}, JWT_SECRET, algorithm='HS256')}"}


def snapshot(pg_url: str, user: str) -> list[Any]:
    return [q(pg_url, "SELECT id, status, cancel_at_period_end FROM subscriptions WHERE user_id = %s ORDER BY id", user),
            q(pg_url, "SELECT balance FROM credit_balances WHERE user_id = %s", user),
            q(pg_url, "SELECT id, status, stripe_id FROM payment_attempts WHERE user_id = %s ORDER BY id", user),
            q(pg_url, "SELECT stripe_customer_id, email, is_admin FROM users WHERE id = %s", user)]


def test_every_route_keeps_users_apart_and_admin_routes_closed(
        running_api_factory: ApiFactory, localstripe_url: str, pg_url: str) -> None:
    api = running_api_factory(localstripe_url, worker_in_process=False)
    doc = api.client.get("/openapi.json").json()
    routes = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    admin_routes = {(m, p) for m, p in routes if p.startswith(("/api/admin/", "/api/analytics/"))}
    billing_routes = {(m, p) for m, p in routes if p.startswith("/api/billing/")}
    assert routes == admin_routes | billing_routes | NO_USER_DATA, routes - admin_routes - billing_routes

    # user B: a subscription, a paid credit purchase, a pending one
    b = api.token("bea", email="bea@example.test")
    sub = api.client.post("/api/billing/create-subscription", json={"plan_id": "pro_monthly",
                                                                    "payment_method": "pm_card_visa"}, headers=b)
    assert sub.status_code == 201, sub.text
    paid = api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_1"}, headers=b).json()
    assert api.client.post("/api/billing/confirm-payment", json={"payment_intent_id": paid["payment_intent_id"],
                                                                 "payment_method": "pm_card_visa"},
                           headers=b).json()["credits_granted"]
    pending = api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_5"}, headers=b).json()
    secrets = {sub.json()["subscription_id"], paid["payment_intent_id"], pending["payment_intent_id"],
               "bea@example.test", q(pg_url, "SELECT stripe_customer_id FROM users WHERE id = 'bea'")[0][0]}
    before = snapshot(pg_url, "bea")

    # user A calls every billing route, with B's identifiers wherever a route takes one
    a = api.token("abe", email="abe@example.test")
    calls = {
        ("get", "/api/billing/plans"): lambda: api.client.get("/api/billing/plans", headers=a),
        ("get", "/api/billing/status"): lambda: api.client.get("/api/billing/status", headers=a),
        ("get", "/api/billing/history"): lambda: api.client.get("/api/billing/history", headers=a),
        ("post", "/api/billing/confirm-payment"): lambda: api.client.post(
            "/api/billing/confirm-payment", json={"payment_intent_id": pending["payment_intent_id"],
                                                  "payment_method": "pm_card_visa"}, headers=a),
        ("post", "/api/billing/cancel-subscription"): lambda: api.client.post(
            "/api/billing/cancel-subscription", json={"immediately": True}, headers=a),
        ("post", "/api/billing/purchase-resume"): lambda: api.client.post(
            "/api/billing/purchase-resume", json={"pack_id": "resume_1"}, headers=a),
        ("post", "/api/billing/create-subscription"): lambda: api.client.post(
            "/api/billing/create-subscription", json={"plan_id": "team_monthly", "payment_method": "pm_card_visa"},
            headers=a),
    }
    assert set(calls) == billing_routes, billing_routes ^ set(calls)
    answers = {route: call() for route, call in calls.items()}
    for route, r in answers.items():
        assert r.status_code < 500, (route, r.text)
        leaked = [s for s in secrets if s in r.text]
        assert not leaked, (route, leaked)
    assert answers[("post", "/api/billing/confirm-payment")].status_code == 404
    assert answers[("post", "/api/billing/cancel-subscription")].status_code == 404
    # a cursor built from B's attempt does not page into B's history
    cursor = q(pg_url, "SELECT encode(convert_to(to_char(created_at AT TIME ZONE 'UTC',"
                       " 'YYYY-MM-DD\"T\"HH24:MI:SS.US+00:00') || '|' || id, 'UTF8'), 'base64') FROM payment_attempts"
                       " WHERE user_id = 'bea' ORDER BY created_at DESC LIMIT 1")[0][0]
    cursor = cursor.replace("+", "-").replace("/", "_").replace("\n", "")
    r = api.client.get("/api/billing/history", params={"cursor": cursor}, headers=a)
    assert r.status_code in (200, 400) and not [s for s in secrets if s in r.text]
    assert snapshot(pg_url, "bea") == before  # nothing of B's changed

    # admin routes: every one refuses anything but a short-lived admin token of a user with the role
    api.admin_token("ops")  # grants the role to ops (and proves the good token works below)
    now = int(time.time())
    refused = {
        "user token": (a, {401, 403}),
        "expired admin token": (bearer(iat=now - 900, exp=now - 300), {401}),
        "wrong audience": (bearer(aud="another-service"), {401, 403}),
        "user audience": (bearer(aud="cashbook-api"), {401, 403}),
        "wrong issuer": (bearer(iss="evil"), {401}),
        "too long-lived": (bearer(exp=now + 86400), {401}),
        "no role": (bearer(sub="abe"), {403}),
        "no token": ({}, {401}),
    }
    for method, path in sorted(admin_routes):
        url = re.sub(r"\{[^}]+\}", "fz1", path)
        body = {"note": "closing this"} if method == "post" else None
        for label, (headers, codes) in refused.items():
            r = api.client.request(method.upper(), url, headers=headers, json=body)
            assert r.status_code in codes, (method, path, label, r.status_code, r.text)
        ok = api.client.request(method.upper(), url, headers=bearer(), json=body)
        assert ok.status_code not in (401, 403), (method, path, ok.text)
    assert snapshot(pg_url, "bea") == before
