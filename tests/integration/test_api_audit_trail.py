"""The append-only audit trail of admin requests (issue 12): every admin request is recorded (allowed, denied,
failed), each change with before/after in the same transaction, and the database refuses UPDATE/DELETE."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from cashbook.db.migrate import migrate
from cashbook.discrepancy_lifecycle import publish_discrepancies
from tests.discrepancy_rows import discrepancy, discrepancy_table
from tests.integration.api_fixtures import ApiFactory


def q(pg_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql, params).fetchall()


def _publish(url: str) -> None:
    publish_discrepancies(url, discrepancy_table([discrepancy("d9")]), run_id="r")


def test_every_admin_request_is_recorded(running_api_factory: ApiFactory, pg_url: str) -> None:
    migrate(pg_url)
    _publish(pg_url)
    api = running_api_factory(worker_in_process=False)
    admin = api.admin_token("ops", email="ops@example.test")
    r = api.client.get("/api/admin/alerts", params={"status": "open"},
                       headers={**admin, "X-Request-ID": "req-123", "User-Agent": "audit-test"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "req-123"
    assert q(pg_url, "SELECT actor, actor_email, action, outcome, status_code, query, ip, user_agent, request_id"
                     " FROM audit_log") == [("ops", "ops@example.test", "GET /api/admin/alerts", "allowed", 200,
                                             "status=open", "127.0.0.1", "audit-test", "req-123")]
    # a change: one row, written with the change, with before and after
    r = api.client.post("/api/admin/discrepancies/d9/resolve", headers=admin, json={"note": "fee booked"})
    assert r.status_code == 204
    (action, target, outcome, before, after, rid), = q(
        pg_url, "SELECT action, target, outcome, before, after, request_id FROM audit_log WHERE outcome = 'changed'")
    assert (action, target, outcome) == ("discrepancy.resolve", "d9", "changed")
    assert before == {"status": "open", "resolution_note": None, "resolved_by": None}
    assert after == {"status": "resolved", "resolution_note": "fee booked", "resolved_by": "ops@example.test"}
    assert rid == r.headers["x-request-id"]
    assert q(pg_url, "SELECT count(*) FROM audit_log WHERE request_id = %s", rid) == [(1,)]
    # refusals are recorded too: a user token, a garbage token, a user without the role
    assert api.client.get("/api/admin/webhooks", headers=api.token("eve")).status_code == 403
    assert api.client.get("/api/admin/webhooks", headers={"Authorization": "Bearer junk"}).status_code == 401
    assert api.client.get("/api/admin/webhooks", headers=api.admin_token("mallory", grant=False)).status_code == 403
    denied = q(pg_url, "SELECT actor, status_code FROM audit_log WHERE outcome = 'denied' ORDER BY audit_id")
    assert denied == [("eve", 403), ("anonymous", 401), ("mallory", 403)]
    # failures: a 404 and a validation error
    assert api.client.post("/api/admin/webhooks/evt_nope/requeue", headers=admin).status_code == 409
    assert q(pg_url, "SELECT outcome, target FROM audit_log WHERE status_code = 409") == [("failed", "evt_nope")]


def test_the_database_refuses_to_rewrite_history(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory(worker_in_process=False)
    assert api.client.get("/api/admin/alerts", headers=api.admin_token("ops")).status_code == 200
    for sql in ("UPDATE audit_log SET actor = 'someone-else'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with psycopg.connect(pg_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql)
    assert q(pg_url, "SELECT actor FROM audit_log") == [("ops",)]


def test_admin_requests_fail_closed_when_the_audit_cannot_be_written(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory(worker_in_process=False)
    admin = api.admin_token("ops")
    with psycopg.connect(pg_url) as conn:
        conn.execute("ALTER TABLE audit_log RENAME TO audit_log_away")
    try:
        r = api.client.get("/api/admin/alerts", headers=admin)
        assert r.status_code == 503 and r.json()["type"].endswith("audit_unavailable")
        assert "alert_id" not in r.text
    finally:
        with psycopg.connect(pg_url) as conn:
            conn.execute("ALTER TABLE audit_log_away RENAME TO audit_log")
    assert api.client.get("/api/admin/alerts", headers=admin).status_code == 200
