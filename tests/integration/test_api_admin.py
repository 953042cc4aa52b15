"""/api/admin: admin-only views of discrepancies, alerts and parked webhooks; manual resolution sticks."""

from __future__ import annotations

from cashbook.billing.tokens import mint
from cashbook.db.migrate import migrate
from cashbook.discrepancy_lifecycle import publish_discrepancies
from tests.discrepancy_rows import discrepancy, discrepancy_table
from tests.integration.api_fixtures import JWT_SECRET, ApiFactory


def _publish(url: str, ids: list[str]) -> None:
    rows = [discrepancy(i, difference=n) for n, i in enumerate(ids, start=1)]
    publish_discrepancies(url, discrepancy_table(rows), run_id="r")


def test_admin_lists_and_resolves(running_api_factory: ApiFactory, pg_url: str) -> None:
    migrate(pg_url)
    _publish(pg_url, ["a", "b"])
    api = running_api_factory(worker_in_process=False)
    admin = api.admin_token("ops", email="finance@example.com")
    user = {"Authorization": f"Bearer {mint('u1', JWT_SECRET)}"}

    assert api.client.get("/api/admin/discrepancies", headers=user).status_code == 403
    resp = api.client.get("/api/admin/discrepancies", headers=admin, params={"status": "open"})
    assert resp.status_code == 200
    assert [r["discrepancy_id"] for r in resp.json()] == ["b", "a"]  # largest difference first

    bad = api.client.post("/api/admin/discrepancies/zzz/resolve", headers=admin, json={"note": "nothing here"})
    assert bad.status_code == 404 and bad.headers["content-type"].startswith("application/problem+json")
    ok = api.client.post("/api/admin/discrepancies/a/resolve", headers=admin, json={"note": "booked in the GL"})
    assert ok.status_code == 204

    _publish(pg_url, ["a", "b"])  # a later run still finds it: the manual resolution stands
    rows = {r["discrepancy_id"]: r for r in api.client.get("/api/admin/discrepancies", headers=admin).json()}
    assert rows["a"]["status"] == "resolved" and rows["a"]["resolved_by"] == "finance@example.com"
    assert rows["a"]["resolution_note"] == "booked in the GL"
    assert rows["b"]["status"] == "open"

    assert api.client.get("/api/admin/alerts", headers=admin).json() == []
    assert api.client.get("/api/admin/webhooks", headers=admin, params={"status": "manual_review"}).json() == []
    assert api.client.post("/api/admin/webhooks/evt_x/requeue", headers=admin).status_code == 409
