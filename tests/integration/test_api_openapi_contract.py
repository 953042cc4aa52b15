"""Defect 7 (issue 12): what an independent OpenAPI fuzzer found — bigint offsets answered 500, the document
omitted the Idempotency-Key header, the error responses and their media type, and re-resolving a discrepancy
silently overwrote its note and resolver."""

from __future__ import annotations

import pytest

from cashbook.db.migrate import migrate
from cashbook.discrepancy_lifecycle import publish_discrepancies
from tests.discrepancy_rows import discrepancy, discrepancy_table
from tests.integration.api_fixtures import ApiFactory

PROBLEM = "application/problem+json"


@pytest.mark.parametrize("path", ["/api/admin/webhooks", "/api/admin/discrepancies", "/api/admin/alerts"])
def test_offset_beyond_bigint_is_a_422_problem(running_api_factory: ApiFactory, path: str) -> None:
    api = running_api_factory(worker_in_process=False)
    admin = api.admin_token("ops")
    for offset in (2**63, 10**30):
        r = api.client.get(path, params={"offset": offset}, headers=admin)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == PROBLEM
    assert api.client.get(path, params={"offset": 2**63 - 1}, headers=admin).status_code == 200


def test_openapi_documents_idempotency_key_and_problem_responses(running_api_factory: ApiFactory) -> None:
    api = running_api_factory(worker_in_process=False)
    doc = api.client.get("/openapi.json").json()
    assert "Problem" in doc["components"]["schemas"]
    for path in ("/api/billing/create-subscription", "/api/billing/cancel-subscription",
                 "/api/billing/purchase-resume", "/api/billing/confirm-payment"):
        op = doc["paths"][path]["post"]
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        assert "Idempotency-Key" in headers, path
        for status in ("400", "401", "409", "422", "429", "503"):
            assert PROBLEM in op["responses"][status]["content"], (path, status)
        assert "Retry-After" in op["responses"]["429"]["headers"]
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            if path.startswith("/api/admin"):
                for status in ("401", "403", "429"):
                    assert PROBLEM in op["responses"][status]["content"], (method, path, status)
            if path.startswith("/api/billing"):
                assert PROBLEM in op["responses"]["401"]["content"], (method, path)
            for status, resp in op["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(resp.get("content", {})) == [PROBLEM], (method, path, status)
    # the manual payment refuses a request without the key (400), so the document must say it is required
    manual = doc["paths"]["/api/admin/payments/manual"]["post"]
    key = next(p for p in manual["parameters"] if p["in"] == "header" and p["name"] == "Idempotency-Key")
    assert key["required"] is True and key["schema"]["type"] == "string"
    assert not any(k.startswith("x-cashbook") for k in manual)
    hook = doc["paths"]["/api/webhooks/stripe"]["post"]["responses"]
    assert {"400", "401", "413", "429"} <= set(hook)


def test_resolving_twice_keeps_history(running_api_factory: ApiFactory, pg_url: str) -> None:
    migrate(pg_url)
    publish_discrepancies(pg_url, discrepancy_table([discrepancy("d1", difference=100)]), run_id="r")
    api = running_api_factory(worker_in_process=False)
    first, second = api.admin_token("ann", email="ann@example.test"), api.admin_token("bob", email="bob@example.test")
    assert api.client.post("/api/admin/discrepancies/d1/resolve", headers=first,
                           json={"note": "booked in the GL"}).status_code == 204
    assert api.client.post("/api/admin/discrepancies/d1/resolve", headers=second,
                           json={"note": "actually a bank fee"}).status_code == 204
    hist = api.client.get("/api/admin/discrepancies/d1/history", headers=first)
    assert hist.status_code == 200, hist.text
    assert [(h["note"], h["resolved_by"], h["previous_status"]) for h in hist.json()] == [
        ("booked in the GL", "ann@example.test", "open"), ("actually a bank fee", "bob@example.test", "resolved")]
    assert hist.json()[1]["previous_note"] == "booked in the GL"
    current = {r["discrepancy_id"]: r for r in api.client.get("/api/admin/discrepancies", headers=first).json()}
    assert current["d1"]["resolution_note"] == "actually a bank fee"
    assert api.client.get("/api/admin/discrepancies/nope/history", headers=first).status_code == 404
