"""Defect 6 (issue 12): admin rights come from the database role, not a token claim; admin tokens are
short-lived and audience-bound; `iss` and `aud` are required; claims are parsed strictly."""

from __future__ import annotations

import time
from typing import Any

import jwt
import psycopg

from tests.integration.api_fixtures import JWT_SECRET, ApiFactory

NOW = int(time.time())


def bearer(claims: dict[str, Any], secret: str = JWT_SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm='HS256')}"}


def admin_claims(sub: str, **kw: Any) -> dict[str, Any]:
    return {"sub": sub, "iss": "cashbook", "aud": "cashbook-admin", "iat": NOW, "exp": NOW + 600, **kw}


def user_claims(sub: str, **kw: Any) -> dict[str, Any]:
    return {"sub": sub, "iss": "cashbook", "aud": "cashbook-api", "iat": NOW, "exp": NOW + 600, **kw}


def set_admin(pg_url: str, user: str, value: bool) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO users (id, is_admin) VALUES (%s, %s) ON CONFLICT (id) DO UPDATE"
                     " SET is_admin = EXCLUDED.is_admin", (user, value))


def test_admin_claim_alone_grants_nothing(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory(worker_in_process=False)
    # the old token shape: an `admin` claim, 7 days, no iss/aud — and "false" (a string) used to read as true
    for claim in (True, "false"):
        old = bearer({"sub": "mallory", "admin": claim, "iat": NOW, "exp": NOW + 7 * 86400})
        assert api.client.get("/api/admin/webhooks", headers=old).status_code in (401, 403)
    # a well-formed admin token for a user who is not an admin in the database
    r = api.client.get("/api/admin/webhooks", headers=bearer(admin_claims("mallory", admin=True)))
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT is_admin FROM users WHERE id = 'mallory'").fetchall() in ([], [(False,)])


def test_database_role_decides_and_revocation_is_immediate(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory(worker_in_process=False)
    h = bearer(admin_claims("ops"))
    api.client.get("/healthz")  # app started and migrated
    set_admin(pg_url, "ops", True)
    assert api.client.get("/api/admin/webhooks", headers=h).status_code == 200
    set_admin(pg_url, "ops", False)
    assert api.client.get("/api/admin/webhooks", headers=h).status_code == 403


def test_admin_tokens_are_short_lived_and_audience_bound(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory(worker_in_process=False)
    api.client.get("/healthz")
    set_admin(pg_url, "ops", True)
    long_lived = bearer(admin_claims("ops", exp=NOW + 7 * 86400))
    assert api.client.get("/api/admin/webhooks", headers=long_lived).status_code == 401
    expired = bearer(admin_claims("ops", iat=NOW - 1200, exp=NOW - 600))
    assert api.client.get("/api/admin/webhooks", headers=expired).status_code == 401
    user_token = bearer(user_claims("ops"))
    assert api.client.get("/api/admin/webhooks", headers=user_token).status_code == 403
    # and an admin token is not a user token
    assert api.client.get("/api/billing/status", headers=bearer(admin_claims("ops"))).status_code == 401


def test_iss_aud_required_and_claims_strict(running_api_factory: ApiFactory) -> None:
    api = running_api_factory(worker_in_process=False)
    assert api.client.get("/api/billing/status", headers=bearer(user_claims("u1"))).status_code == 200
    for bad in ({k: v for k, v in user_claims("u1").items() if k != "iss"},
                {k: v for k, v in user_claims("u1").items() if k != "aud"},
                {k: v for k, v in user_claims("u1").items() if k != "iat"},
                user_claims("u1", iss="someone-else"),
                user_claims("u1", aud="another-service"),
                user_claims(""),
                user_claims("u1\nadmin"),
                user_claims("x" * 300),
                user_claims("u1", email=["a@example.test"]),
                user_claims("u1", iat=NOW + 3600, exp=NOW + 7200)):
        r = api.client.get("/api/billing/status", headers=bearer(bad))
        assert r.status_code == 401, (bad, r.text)
    assert api.client.get("/api/billing/status",
                          headers=bearer(user_claims("u1"), secret="another-secret-0123456789abcdef0")).status_code == 401
