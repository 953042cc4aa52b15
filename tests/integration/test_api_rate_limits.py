"""Rate limits over real HTTP with a real Redis shared by two API instances (issue 12, protections)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.integration.api_fixtures import ApiFactory, signed

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture()
def shared_redis() -> Iterator[str]:
    """A key prefix of its own on the real Redis; its keys are deleted afterwards."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"Redis is required at {REDIS_URL} (it runs here and in CI)")
    prefix = "cbt-rl-" + uuid.uuid4().hex[:8]
    yield prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def limits(prefix: str | None, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(rate_limit_enabled=True, rate_limit_ip="1000/minute", rate_limit_user="1000/minute",
                                rate_limit_payment="1000/minute", rate_limit_webhook="1000/second",
                                worker_in_process=False)
    if prefix:
        base.update(redis_url=REDIS_URL, rate_limit_key_prefix=prefix)
    return {**base, **kw}


def assert_429(r: Any) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("rate_limited")
    assert int(r.headers["retry-after"]) >= 1


def test_ip_limit_is_shared_through_redis(running_api_factory: ApiFactory, shared_redis: str) -> None:
    a = running_api_factory(**limits(shared_redis, rate_limit_ip="5/minute"))
    b = running_api_factory(**limits(shared_redis, rate_limit_ip="5/minute"))
    h = a.token("u1")
    codes = [a.client.get("/api/billing/plans", headers=h).status_code for _ in range(3)]
    codes += [b.client.get("/api/billing/plans", headers=h).status_code for _ in range(2)]
    assert codes == [200] * 5
    assert_429(b.client.get("/api/billing/plans", headers=h))
    assert_429(a.client.get("/api/billing/status", headers=h))
    assert a.client.get("/healthz").status_code == 200  # probes are never limited
    client = redis.Redis.from_url(REDIS_URL)
    assert any(client.scan_iter(f"{shared_redis}*"))


def test_user_limit_is_per_user(running_api_factory: ApiFactory, shared_redis: str) -> None:
    api = running_api_factory(**limits(shared_redis, rate_limit_user="3/minute"))
    for _ in range(3):
        assert api.client.get("/api/billing/status", headers=api.token("greedy")).status_code == 200
    assert_429(api.client.get("/api/billing/status", headers=api.token("greedy")))
    assert api.client.get("/api/billing/status", headers=api.token("polite")).status_code == 200
    # admins have their own budget under the same limit
    admin = api.admin_token("ops")
    for _ in range(3):
        assert api.client.get("/api/admin/alerts", headers=admin).status_code == 200
    assert_429(api.client.get("/api/admin/alerts", headers=admin))


def test_payment_limit_stops_before_stripe(running_api_factory: ApiFactory, shared_redis: str) -> None:
    api = running_api_factory(**limits(shared_redis, rate_limit_payment="1/minute"))  # Stripe is a closed port
    h = api.token("carder")
    first = api.client.post("/api/billing/purchase-resume", json={"pack_id": "nope"}, headers=h)
    assert first.status_code == 404  # counted, then the unknown pack
    assert_429(api.client.post("/api/billing/purchase-resume", json={"pack_id": "nope"}, headers=h))
    assert api.client.get("/api/billing/status", headers=h).status_code == 200  # reads are not payments


def test_webhooks_have_their_own_higher_limit(running_api_factory: ApiFactory, shared_redis: str) -> None:
    api = running_api_factory(**limits(shared_redis, rate_limit_ip="2/minute", rate_limit_webhook="5/second"))
    h = api.token("u1")
    api.client.get("/api/billing/status", headers=h)
    api.client.get("/api/billing/status", headers=h)
    assert_429(api.client.get("/api/billing/status", headers=h))
    now = int(time.time())
    codes = []
    for i in range(8):
        body, headers = signed({"id": f"evt_rl_{i}", "type": "invoice.created", "created": now,
                                "data": {"object": {"id": f"in_{i}"}}, "livemode": False})
        codes.append(api.client.post("/api/webhooks/stripe", content=body, headers=headers).status_code)
    assert codes[:5] == [200] * 5 and 429 in codes[5:]


def test_memory_storage_without_redis_and_fallback_when_redis_is_down(running_api_factory: ApiFactory) -> None:
    mem = running_api_factory(**limits(None, rate_limit_ip="2/minute"))
    assert mem.app.state.ratelimits.backend == "memory"
    assert [mem.client.get("/api/billing/plans").status_code for _ in range(2)] == [401, 401]
    assert_429(mem.client.get("/api/billing/plans"))
    down = running_api_factory(**limits(None, rate_limit_ip="2/minute", redis_url="redis://127.0.0.1:9/0"))
    assert down.app.state.ratelimits.backend == "redis"
    assert [down.client.get("/api/billing/plans").status_code for _ in range(2)] == [401, 401]
    assert_429(down.client.get("/api/billing/plans"))  # still limited, per process, while Redis is unreachable
    from api.ratelimit import stats

    assert stats()["ip"]["fallback"] >= 3
