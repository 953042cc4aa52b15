"""Helpers for the billing API tests: launching localstripe (a separate process), the app under real uvicorn,
signing webhook payloads. The pytest fixtures built on them are in tests/integration/conftest.py.

localstripe is GPL: it only ever runs as its own process via `python -c`, never imported here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import uvicorn

from api.http_protocol import CoalescingHttpToolsProtocol
from api.settings import ApiSettings
from cashbook.billing.signature import sign
from cashbook.billing.tokens import ADMIN_AUDIENCE, mint
from tests.fixture_files import STRIPE_EVENTS_DIR

WEBHOOK_SECRET = "whsec_test_secret"
JWT_SECRET = "test-jwt-secret-0123456789abcdef0123"
LAUNCH = ("import aiohttp.web, localstripe.server as s; "
          "aiohttp.web.run_app(s.app, host='127.0.0.1', port={port}, print=None)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                raise RuntimeError(f"process exited early: {err}") from None
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def launch_localstripe(tmp_path: Path, clock_offset: int = 0) -> Iterator[str]:
    """A fresh localstripe on a free loopback port; its pickle lives in this test's own TMPDIR.

    `clock_offset` shifts localstripe's own clock (its `time.time`, in its own process): a negative offset
    plays a Stripe whose clock is behind ours, i.e. our server clock running ahead.
    """
    port = free_port()
    tmp = tmp_path / "localstripe"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    code = LAUNCH.format(port=port)
    if clock_offset:
        code = f"import time; _t = time.time; time.time = lambda: _t() + {int(clock_offset)}; " + code
    yield from listening_process([sys.executable, "-c", code], port, env=env)


def listening_process(argv: list[str], port: int, **popen: Any) -> Iterator[str]:
    """Run `argv` until the caller is done; yields its URL once it listens on 127.0.0.1:`port`."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen)
    try:
        wait_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def api_settings(**overrides: Any) -> ApiSettings:
    # rate limits off unless a test turns them on: every test client shares 127.0.0.1
    base: dict[str, Any] = dict(env="test", jwt_secret=JWT_SECRET, stripe_webhook_secret=WEBHOOK_SECRET,
                                worker_poll_seconds=0.05, worker_backoff_seconds=0.0, pool_min=1, pool_max=8,
                                rate_limit_enabled=False, redis_url=None)
    base.update(overrides)
    return ApiSettings(_env_file=None, **base)  # type: ignore[call-arg]


@dataclass
class RunningApi:
    url: str
    client: httpx.Client
    app: Any
    database_url: str = ""

    def token(self, user: str, email: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(user, JWT_SECRET, email=email)}"}

    def admin_token(self, user: str, email: str | None = None, *, grant: bool = True) -> dict[str, str]:
        """A short-lived admin-audience token; `grant` also gives `user` the database role."""
        if grant:
            import psycopg

            with psycopg.connect(self.database_url) as conn:
                conn.execute("INSERT INTO users (id, email, is_admin) VALUES (%s, %s, true) ON CONFLICT (id)"
                             " DO UPDATE SET is_admin = true", (user, email))
        return {"Authorization": f"Bearer {mint(user, JWT_SECRET, audience=ADMIN_AUDIENCE, email=email, ttl_seconds=600)}"}


class ApiFactory(Protocol):
    """`running_api_factory(stripe_url, gateway_options=…, **ApiSettings overrides)` starts one more app."""

    def __call__(self, stripe_url: str | None = None, *, gateway_options: dict[str, Any] | None = None,
                 **overrides: Any) -> RunningApi: ...


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # running in a thread
        pass


def serve(app: Any, port: int) -> tuple[_Server, threading.Thread]:
    # the HTTP protocol `cashbook api` ships (api/http_protocol.py), so every API test runs on it
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                    http=CoalescingHttpToolsProtocol))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return server, thread


def load_event(name: str, **changes: Any) -> dict[str, Any]:
    """A real Stripe event payload (tests/fixtures/stripe/events) with a unique id (and optional changes)."""
    event = json.loads((STRIPE_EVENTS_DIR / f"{name}.json").read_text())
    event["id"] = "evt_" + uuid.uuid4().hex[:24]
    for key, value in changes.items():
        if key == "object":
            event["data"]["object"].update(value)
        else:
            event[key] = value
    return event


def refunded_charge_event(localstripe_url: str, event_id: str) -> tuple[dict[str, Any], str]:
    """A `charge.refunded` event for a real localstripe charge refunded by 500, without its refund list (newer API
    versions drop `charge.refunds`), so the worker's handler must ask Stripe; and the refund's id."""
    import stripe

    client = stripe.StripeClient("sk_test_x", base_addresses={"api": localstripe_url}, max_network_retries=0)
    pi = client.v1.payment_intents.create(params={"amount": 1200, "currency": "usd", "payment_method": "pm_card_visa",
                                                  "confirm": True}).to_dict()
    charge_id = pi["latest_charge"]["id"] if isinstance(pi["latest_charge"], dict) else pi["latest_charge"]
    refund = client.v1.refunds.create(params={"charge": charge_id, "amount": 500}).to_dict()
    charge = client.v1.charges.retrieve(charge_id).to_dict()
    charge.pop("refunds", None)
    event = {"id": event_id, "object": "event", "type": "charge.refunded", "created": charge["created"],
             "data": {"object": charge}, "livemode": False}
    return event, refund["id"]


def signed(event: dict[str, Any] | bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
           ) -> tuple[bytes, dict[str, str]]:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    header = sign(body, secret, int(time.time()) if timestamp is None else timestamp)
    return body, {"Stripe-Signature": header, "Content-Type": "application/json"}


def wait_until(predicate: Any, timeout: float = 15.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
