"""The webhook fast path (`WebhookFastPath`, api/routes/webhooks.py) answers exactly as the FastAPI route does.

Two apps on the same database, over real HTTP: the app as `create_app` builds it (the fast path innermost) and
the same app with the fast path taken out, so Stripe's deliveries go through FastAPI's router to the route.
Every answer — new, duplicate, unsigned, badly signed, too large, not JSON, wrong method — must match in status,
body, content type and the headers the outer middlewares add, and both must store the same inbox rows.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from api.routes.webhooks import WebhookFastPath
from tests.integration.api_fixtures import ApiFactory, RunningApi, load_event, signed

COMPARED_HEADERS = ("content-type", "x-content-type-options", "cache-control", "content-security-policy",
                    "x-frame-options", "referrer-policy")


def _layers(app: Any) -> list[Any]:
    """The built middleware chain, outermost first."""
    layers, layer = [], app.middleware_stack
    while layer is not None and len(layers) < 50:
        layers.append(layer)
        layer = getattr(layer, "app", None)
    return layers


def _without_fast_path(api: RunningApi) -> RunningApi:
    api.app.user_middleware = [m for m in api.app.user_middleware if m.cls is not WebhookFastPath]
    api.app.middleware_stack = None  # rebuilt on the next request, without the fast path
    return api


def _answers(api: RunningApi, tag: str) -> list[tuple[Any, ...]]:
    event = load_event("invoice.paid", object={"id": f"in_fast_{tag}"})
    event["id"] = f"evt_fast_{tag}"
    body, headers = signed(event)
    _, wrong = signed(event, secret="whsec_wrong")
    stale_body, stale = signed(event, timestamp=int(time.time()) - 3600)
    not_json, not_json_headers = signed(b"{not json")
    big, big_headers = signed(b" " * (api.app.state.settings.webhook_max_body_bytes + 1))
    requests = [
        ("POST", body, headers),  # new
        ("POST", body, headers),  # duplicate
        ("POST", body, {"Content-Type": "application/json"}),  # unsigned
        ("POST", body, wrong),
        ("POST", stale_body, stale),
        ("POST", not_json, not_json_headers),
        ("POST", big, big_headers),  # over the body cap
        ("GET", b"", {}),  # another method on the same path: the router's 405
    ]
    answers = []
    for method, content, hdrs in requests:
        r = api.client.request(method, "/api/webhooks/stripe", content=content, headers=hdrs)
        body_out = r.json() if r.content else None
        if isinstance(body_out, dict):
            body_out.pop("instance", None)
        answers.append((r.status_code, body_out, *(r.headers.get(h) for h in COMPARED_HEADERS),
                        r.headers.get("x-request-id", "").startswith("req_")))
    return answers


def test_fast_path_answers_like_the_route(running_api_factory: ApiFactory, pg_url: str) -> None:
    fast = running_api_factory(worker_in_process=False)
    routed = _without_fast_path(running_api_factory(worker_in_process=False))

    fast_answers = _answers(fast, "a")
    routed_answers = _answers(routed, "b")
    assert any(isinstance(layer, WebhookFastPath) for layer in _layers(fast.app))
    assert not any(isinstance(layer, WebhookFastPath) for layer in _layers(routed.app))

    assert fast_answers == routed_answers
    statuses = [a[0] for a in fast_answers]
    assert statuses == [200, 200, 400, 401, 401, 400, 413, 405]
    assert [a[1] for a in fast_answers[:2]] == [{"received": True, "duplicate": False},
                                                {"received": True, "duplicate": True}]
    assert all(a[2] == "application/problem+json" for a in fast_answers[2:])
    assert all(a[-1] for a in fast_answers)  # the request-id middleware still wraps the fast path

    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT id, type FROM webhook_events ORDER BY id").fetchall()
    assert rows == [("evt_fast_a", "invoice.paid"), ("evt_fast_b", "invoice.paid")]

    metrics = fast.client.get("/metrics").text
    assert 'route="/api/webhooks/stripe",status="200"' in metrics  # the route template, not <unmatched>
