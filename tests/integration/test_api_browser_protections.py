"""CORS allowlist for the checkout, security headers, and /docs off in production (issue 12)."""

from __future__ import annotations

import pytest

from api.settings import ApiSettingsError
from tests.integration.api_fixtures import ApiFactory, api_settings

CHECKOUT = "https://checkout.example.com"


def test_cors_allows_only_the_listed_checkout_origin(running_api_factory: ApiFactory) -> None:
    api = running_api_factory(worker_in_process=False, cors_allow_origins=CHECKOUT)
    pre = api.client.options("/api/billing/purchase-resume", headers={
        "Origin": CHECKOUT, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key"})
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == CHECKOUT
    assert "idempotency-key" in pre.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in pre.headers
    evil = api.client.options("/api/billing/purchase-resume", headers={
        "Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in evil.headers
    r = api.client.get("/api/billing/plans", headers={**api.token("u1"), "Origin": "https://evil.example.net"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_security_headers_on_every_response(running_api_factory: ApiFactory) -> None:
    api = running_api_factory(worker_in_process=False)
    for r in (api.client.get("/api/billing/plans", headers=api.token("u1")), api.client.get("/api/billing/plans"),
              api.client.get("/healthz")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in r.headers["content-security-policy"]
    assert api.client.get("/api/billing/plans").headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in api.client.get("/healthz").headers  # test env: off


def test_production_defaults(running_api_factory: ApiFactory) -> None:
    api = running_api_factory(worker_in_process=False, env="prod")
    assert api.client.get("/docs").status_code == 404
    assert api.client.get("/openapi.json").status_code == 404
    assert api.client.get("/healthz").headers["strict-transport-security"].startswith("max-age=63072000")
    with pytest.raises(ApiSettingsError, match="CORS"):
        api_settings(env="prod", cors_allow_origins="*").check()
    with pytest.raises(ApiSettingsError, match="https"):
        api_settings(env="prod", cors_allow_origins="http://shop.example.com").check()
    with pytest.raises(ApiSettingsError, match="not an origin"):
        api_settings(env="prod", cors_allow_origins="https://*.example.com").check()
    api_settings(env="prod", cors_allow_origins=f"{CHECKOUT},https://www.example.com").check()
    docs_on = running_api_factory(worker_in_process=False, env="prod", docs_enabled=True)
    assert docs_on.client.get("/openapi.json").status_code == 200
