"""Fixtures shared by the integration tests: localstripe, the billing API under real uvicorn, the idempotency proxy.

pytest finds them here, so test modules name a fixture as a parameter without importing it. The helpers they
use (launching processes, signing payloads, `RunningApi`) are in tests/integration/api_fixtures.py.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.main import create_app
from cashbook.stripe_gateway import GatewayConfig, StripeGateway
from tests.integration.api_fixtures import (
    ApiFactory,
    RunningApi,
    _Server,
    api_settings,
    free_port,
    launch_localstripe,
    listening_process,
    serve,
)
from tests.integration.http_receiver import Receiver


@pytest.fixture()
def localstripe_url(tmp_path: Path) -> Iterator[str]:
    """A fresh localstripe on a free loopback port; its pickle lives in this test's own TMPDIR."""
    yield from launch_localstripe(tmp_path)


@pytest.fixture()
def localstripe_behind(tmp_path: Path) -> Iterator[str]:
    """localstripe whose clock is one hour behind ours (our server clock running ahead of Stripe's)."""
    yield from launch_localstripe(tmp_path, clock_offset=-3600)


@pytest.fixture()
def running_api_factory(pg_url: str) -> Iterator[ApiFactory]:
    """Start the app (real uvicorn on a free loopback port) against this test's fresh database."""
    started: list[tuple[_Server, threading.Thread, httpx.Client]] = []

    def start(stripe_url: str | None = None, *, gateway_options: dict[str, Any] | None = None,
              **overrides: Any) -> RunningApi:
        gateway = StripeGateway(GatewayConfig(**{"api_key": "sk_test_cashbook",
                                                 "api_base": stripe_url or "http://127.0.0.1:9",
                                                 "max_network_retries": 0, **(gateway_options or {})}))
        app = create_app(api_settings(**overrides), database_url=pg_url, gateway=gateway)
        port = free_port()
        server, thread = serve(app, port)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        started.append((server, thread, client))
        return RunningApi(f"http://127.0.0.1:{port}", client, app, pg_url)

    yield start
    for server, thread, client in started:
        client.close()
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture()
def pager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A local HTTP receiver as the Slack sink of every Pager built while the test runs (PagerDuty unset)."""
    with Receiver() as rx:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", rx.url + "/slack")
        monkeypatch.delenv("PAGERDUTY_ROUTING_KEY", raising=False)
        yield rx


@pytest.fixture()
def stripe_idempotent(localstripe_url: str) -> Iterator[str]:
    """localstripe behind a proxy process that enforces Stripe's Idempotency-Key semantics (see the module)."""
    port = free_port()
    yield from listening_process([sys.executable, "-m", "tests.integration.stripe_idempotency_proxy", "--upstream",
                                  localstripe_url, "--port", str(port)], port, cwd=Path(__file__).resolve().parents[2])
