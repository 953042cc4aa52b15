"""The circuit breaker around Stripe over real HTTP: a failing Stripe opens it, then requests get a fast 503
problem with Retry-After and no call reaches Stripe; /readyz shows the state (issue 12)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.integration.api_fixtures import ApiFactory


class FailingStripe:
    """Answers every request with a 500, counting them."""

    def __init__(self) -> None:
        self.count = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _fail(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.count += 1
                body = b'{"error": {"type": "api_error", "message": "boom"}}'
                self.send_response(500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _fail

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture()
def failing() -> Iterator[FailingStripe]:
    s = FailingStripe()
    yield s
    s.server.shutdown()
    s.server.server_close()


def test_breaker_opens_and_answers_fast_503(running_api_factory: ApiFactory, failing: FailingStripe, pg_url: str) -> None:
    api = running_api_factory(failing.url, worker_in_process=False,
                              gateway_options={"breaker_fail_max": 3, "breaker_reset_seconds": 600})
    h = api.token("ria", email="ria@example.test")
    codes = [api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_1"}, headers=h).status_code
             for _ in range(3)]
    assert codes == [502, 502, 502] and failing.count == 3
    r = api.client.post("/api/billing/purchase-resume", json={"pack_id": "resume_1"}, headers=h)
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("stripe_circuit_open")
    assert 1 <= int(r.headers["retry-after"]) <= 600
    assert failing.count == 3  # refused without calling Stripe
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["stripe_circuit"]["state"] == "open"
    assert ready.json()["checks"]["stripe"] == "unavailable (stripe_circuit_open)"
    assert failing.count == 3
    # reads that need no Stripe still work
    assert api.client.get("/api/billing/status", headers=h).status_code == 200
    import psycopg

    with psycopg.connect(pg_url) as conn:  # nothing left half-done (the customer call failed first)
        assert conn.execute("SELECT count(*) FROM payment_attempts WHERE status = 'creating'").fetchone() == (0,)
