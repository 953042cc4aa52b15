"""The replay server speaks Stripe's list protocol: checked with the official SDK over real HTTP."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import stripe

from cashbook.replay import ReplayConfig, ReplayServer
from cashbook.settings import STRIPE_API_VERSION

T = 1_767_225_600  # 2026-01-01T00:00:00Z


def _write(d: Path, name: str, objs: list[dict[str, Any]]) -> None:
    (d / f"{name}.jsonl").write_bytes(b"".join(orjson.dumps(o) + b"\n" for o in objs))


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hand-built export: 25 charges over 5 seconds (ties!), their BTs, a payout, subscriptions."""
    d = tmp_path_factory.mktemp("export")
    charges = [{"id": f"ch_{i:03d}", "object": "charge", "created": T + i // 5, "amount": 100 + i,
                "currency": "usd", "balance_transaction": f"txn_{i:03d}", "status": "succeeded"} for i in range(25)]
    bts = [{"id": f"txn_{i:03d}", "object": "balance_transaction", "created": T + i // 5, "amount": 100 + i,
            "fee": 3, "net": 97 + i, "currency": "usd", "type": "charge", "reporting_category": "charge",
            "source": f"ch_{i:03d}"} for i in range(25)]
    _write(d, "charges", charges)
    _write(d, "balance_transactions", bts)
    _write(d, "payouts", [{"id": "po_1", "object": "payout", "created": T + 10, "amount": 500, "currency": "usd",
                           "automatic": True},
                          {"id": "po_manual", "object": "payout", "created": T + 11, "amount": 5, "currency": "usd",
                           "automatic": False}])
    _write(d, "payout_balance_transactions", [{"payout": "po_1", "balance_transaction": f"txn_{i:03d}"}
                                              for i in (1, 3, 5)])
    _write(d, "subscriptions", [{"id": "sub_a", "object": "subscription", "created": T, "status": "active"},
                                {"id": "sub_c", "object": "subscription", "created": T + 1, "status": "canceled"}])
    _write(d, "customers", [{"id": "cus_1", "object": "customer", "created": T}])
    return d


@pytest.fixture(scope="module")
def server(export_dir: Path) -> Iterator[ReplayServer]:
    with ReplayServer(export_dir) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: ReplayServer) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_replay", base_addresses={"api": server.url},
                               stripe_version=STRIPE_API_VERSION, max_network_retries=0)


def _ids(lst: Any) -> list[str]:
    return [o["id"] for o in lst.data]


def test_newest_first_with_id_tiebreak_and_has_more(client: stripe.StripeClient) -> None:
    page = client.v1.charges.list(params={"limit": 7})
    assert _ids(page) == [f"ch_{i:03d}" for i in range(24, 17, -1)]
    assert page.has_more is True
    assert page.url == "/v1/charges"
    assert page.object == "list"


def test_auto_paging_reads_every_object_exactly_once(client: stripe.StripeClient) -> None:
    seen = [c.id for c in client.v1.charges.list(params={"limit": 4}).auto_paging_iter()]
    assert seen == [f"ch_{i:03d}" for i in range(24, -1, -1)]


def test_ending_before_walks_back(client: stripe.StripeClient) -> None:
    page = client.v1.charges.list(params={"limit": 3, "ending_before": "ch_010"})
    assert _ids(page) == ["ch_013", "ch_012", "ch_011"]
    assert page.has_more is True
    last = client.v1.charges.list(params={"limit": 3, "ending_before": "ch_022"})
    assert _ids(last) == ["ch_024", "ch_023"]
    assert last.has_more is False


@pytest.mark.parametrize(("created", "expected"), [
    ({"gte": T + 1, "lt": T + 2}, list(range(9, 4, -1))),
    ({"gt": T + 3}, list(range(24, 19, -1))),
    ({"lte": T}, list(range(4, -1, -1))),
    ({"gt": T + 1, "lte": T + 2}, list(range(14, 9, -1))),
    (T + 2, list(range(14, 9, -1))),
])
def test_created_filters(client: stripe.StripeClient, created: Any, expected: list[int]) -> None:
    page = client.v1.charges.list(params={"limit": 100, "created": created})
    assert _ids(page) == [f"ch_{i:03d}" for i in expected]
    assert page.has_more is False


def test_cursor_inside_a_filtered_window(client: stripe.StripeClient) -> None:
    page = client.v1.charges.list(params={"limit": 2, "created": {"gte": T + 1, "lt": T + 3},
                                          "starting_after": "ch_012"})
    assert _ids(page) == ["ch_011", "ch_010"]
    assert page.has_more is True


def test_payout_membership_filter_and_manual_payout_refused(client: stripe.StripeClient) -> None:
    page = client.v1.balance_transactions.list(params={"payout": "po_1"})
    assert _ids(page) == ["txn_005", "txn_003", "txn_001"]
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.balance_transactions.list(params={"payout": "po_manual"})
    assert "automatic" in str(err.value.user_message)


def test_expand_source_inlines_the_charge(client: stripe.StripeClient) -> None:
    page = client.v1.balance_transactions.list(params={"limit": 2, "expand": ["data.source"]})
    src = page.data[0].source
    assert src.id == "ch_024" and src.object == "charge" and src.amount == 124


def test_subscriptions_hide_canceled_unless_status_all(client: stripe.StripeClient) -> None:
    assert _ids(client.v1.subscriptions.list()) == ["sub_a"]
    assert _ids(client.v1.subscriptions.list(params={"status": "all"})) == ["sub_c", "sub_a"]


def test_retrieve_and_missing_object_error_body(client: stripe.StripeClient, server: ReplayServer) -> None:
    assert client.v1.charges.retrieve("ch_007").amount == 107
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.charges.retrieve("ch_nope")
    assert err.value.http_status == 404
    assert err.value.code == "resource_missing"
    body = httpx.get(server.url + "/v1/charges/ch_nope", headers={"Authorization": "Bearer sk_test_x"}).json()
    assert body == {"error": {"type": "invalid_request_error", "message": "No such charge: 'ch_nope'",
                              "code": "resource_missing", "param": "id"}}


def test_unknown_parameter_and_bad_key_are_refused(server: ReplayServer) -> None:
    r = httpx.get(server.url + "/v1/charges?colour=red", headers={"Authorization": "Bearer sk_test_x"})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "Received unknown parameter: colour"
    r = httpx.get(server.url + "/v1/charges", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


def test_stats_count_requests_per_second(export_dir: Path) -> None:
    with ReplayServer(export_dir) as srv:
        for _ in range(5):
            httpx.get(srv.url + "/v1/customers", headers={"Authorization": "Bearer sk_test_x"})
        stats = httpx.get(srv.url + "/_replay/stats").json()
    assert stats["requests"]["total"] == 5
    assert sum(stats["requests"]["per_second"].values()) == 5
    assert 1 <= stats["requests"]["max_sliding_1s"] <= 5
    assert stats["objects"]["charges"] == 25


def test_injected_errors_carry_retry_headers(export_dir: Path) -> None:
    cfg = ReplayConfig(error_rate=1.0, error_statuses=(429,), retry_after=2)
    with ReplayServer(export_dir, config=cfg) as srv:
        r = httpx.get(srv.url + "/v1/charges", headers={"Authorization": "Bearer sk_test_x"})
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "2"
    assert r.headers["Stripe-Should-Retry"] == "true"
    assert r.json()["error"]["code"] == "rate_limit"


def test_binds_loopback_only(export_dir: Path) -> None:
    with pytest.raises(ValueError, match="loopback"):
        ReplayServer(export_dir, host="0.0.0.0")


def test_cli_prints_its_url_and_serves(export_dir: Path) -> None:
    cmd = [sys.executable, "-c", "import sys; from cashbook.cli import app; app(sys.argv[1:])",
           "stripe-replay", str(export_dir), "--port", "0", "--latency-ms", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        assert url.startswith("http://127.0.0.1:")
        r = httpx.get(url + "/v1/charges/ch_001", headers={"Authorization": "Bearer sk_test_x"})
        assert r.json()["amount"] == 101
        assert httpx.get(url + "/_replay/stats").json()["requests"]["total"] == 1
    finally:
        proc.terminate()
        proc.wait(10)
