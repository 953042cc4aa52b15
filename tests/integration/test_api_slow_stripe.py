"""Defect 5 (issue 12): a slow Stripe must not starve the database pool, and Stripe calls are bounded.

A "stalled Stripe" — a real HTTP server on loopback that accepts requests and answers only when the test
releases it — stands in for Stripe having a bad day.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from api.settings import ApiSettingsError
from cashbook.settings import Settings
from cashbook.stripe_gateway import GatewayConfig, StripeGateway
from tests.integration.api_fixtures import ApiFactory, api_settings, wait_until


class StalledStripe:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.waiting = 0
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _stall(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner.lock:
                    owner.waiting += 1
                owner.release.wait(120)
                body = b'{"error": {"type": "api_error", "message": "stalled"}}'
                try:
                    self.send_response(500)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            do_GET = do_POST = _stall

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def stalled() -> Iterator[StalledStripe]:
    s = StalledStripe()
    yield s
    s.close()


def test_pool_is_not_starved_while_stripe_hangs(running_api_factory: ApiFactory, stalled: StalledStripe) -> None:
    # a pool of 2 and 3 create-subscription calls stuck at Stripe: other users must still be served
    api = running_api_factory(stalled.url, pool_min=1, pool_max=2, worker_in_process=False,
                              gateway_options={"read_timeout_seconds": 120})
    for user in ("s1", "s2", "s3"):  # known users (rows exist), so the stuck calls only wait on Stripe
        assert api.client.get("/api/billing/status", headers=api.token(user)).status_code == 200

    def subscribe(user: str) -> int:
        with httpx.Client(base_url=api.url, timeout=180) as c:
            return c.post("/api/billing/create-subscription", json={"plan_id": "pro_monthly",
                                                                    "payment_method": "pm_card_visa"},
                          headers=api.token(user)).status_code

    with cf.ThreadPoolExecutor(3) as ex:
        stuck = [ex.submit(subscribe, u) for u in ("s1", "s2", "s3")]
        wait_until(lambda: stalled.waiting >= 3, timeout=60)
        # every stuck request is still waiting on Stripe; a status read needs a pooled connection
        with httpx.Client(base_url=api.url, timeout=120) as c:
            status = c.get("/api/billing/status", headers=api.token("other"))
            plans = c.get("/api/billing/plans", headers=api.token("other2"))
        assert not any(f.done() for f in stuck)
        assert status.status_code == 200, status.text
        assert plans.status_code == 200, plans.text
        stalled.release.set()
        codes = [f.result() for f in stuck]
    assert all(code in (502, 503) for code in codes), codes


def test_stripe_read_timeout_is_explicit_and_bounded(stalled: StalledStripe) -> None:
    cfg = GatewayConfig(api_key="sk_test_x", api_base=stalled.url, connect_timeout_seconds=1,
                        read_timeout_seconds=1, max_network_retries=1)
    gateway = StripeGateway(cfg)
    from cashbook.stripe_gateway import GatewayError

    with pytest.raises(GatewayError) as err:
        gateway.retrieve_invoice("in_1")
    assert err.value.status in (502, 503, 504)
    assert stalled.waiting == 2  # the first try and exactly one retry, each cut by the read timeout
    assert cfg.worst_case_call_seconds() == pytest.approx(2 * (1 + 1) + 0.5)


def test_lease_must_outlast_the_worst_case_stripe_chain() -> None:
    core = Settings(_env_file=None, stripe_read_timeout_seconds=20, stripe_connect_timeout_seconds=5,  # type: ignore[call-arg]
                    stripe_max_network_retries=1)
    gateway = GatewayConfig.from_settings(core)
    assert gateway.worst_case_chain_seconds() == pytest.approx(7 * (2 * 25 + 0.5))
    with pytest.raises(ApiSettingsError, match="LEASE_SECONDS=60"):
        api_settings(idempotency_lease_seconds=60).check(gateway)
    s = api_settings()
    s.check(gateway)
    assert s.lease_seconds(gateway) > gateway.worst_case_chain_seconds()
    assert api_settings(idempotency_lease_seconds=400).lease_seconds(gateway) == 400


def test_worker_fetches_missing_refunds_outside_its_transaction(
        running_api_factory: ApiFactory, localstripe_url: str, pg_url: str) -> None:
    """charge.refunded without its refunds (newer API versions): the worker leaves its transaction, asks Stripe,
    and books the refund in a second transaction (handlers.NeedsStripe)."""
    import psycopg

    from tests.integration.api_fixtures import refunded_charge_event, signed

    api = running_api_factory(localstripe_url)
    event, refund_id = refunded_charge_event(localstripe_url, "evt_refund_fetch")
    body, headers = signed(event)
    assert api.client.post("/api/webhooks/stripe", content=body, headers=headers).status_code == 200

    def status() -> str:
        with psycopg.connect(pg_url) as conn:
            return conn.execute("SELECT status FROM webhook_events WHERE id = 'evt_refund_fetch'").fetchone()[0]

    wait_until(lambda: status() not in ("pending", "failed"))
    assert status() == "processed"
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT type, amount, stripe_id FROM ledger_entries").fetchall()
    assert rows == [("refund", -500, refund_id)]
