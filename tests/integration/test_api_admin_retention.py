"""Retention (issue 13): the admin maintenance loop deletes audit rows past `audit_retention_days` and empties
payloads of processed webhook events past `webhook_payload_retention_days`, on schedule; audit_log stays
append-only for everyone else."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from api.services.admin_jobs import AdminLoop
from cashbook.db.migrate import migrate
from cashbook.settings import load_settings
from tests.integration.api_fixtures import api_settings, load_event


def _audit(conn: psycopg.Connection, days_ago: int, action: str) -> None:
    conn.execute("INSERT INTO audit_log (occurred_at, actor, action, outcome, method, path, request_id) VALUES"
                 " (now() - make_interval(days => %s), 'ops', %s, 'allowed', 'GET', '/api/admin/x', 'r')",
                 (days_ago, action))


def _event(conn: psycopg.Connection, days_ago: int, status: str, object_id: str) -> str:
    e = load_event("charge.refunded", object={"id": object_id})
    conn.execute("INSERT INTO webhook_events (id, type, created, payload, status, received_at) VALUES"
                 " (%s, %s, %s, %s, %s, now() - make_interval(days => %s))",
                 (e["id"], e["type"], e["created"], Jsonb(e), status, days_ago))
    return e["id"]


def test_retention_runs_on_schedule(pg_url: str, tmp_path: Any) -> None:
    migrate(pg_url)
    with psycopg.connect(pg_url) as conn:
        _audit(conn, 400, "old")
        _audit(conn, 40, "recent-but-past-a-short-retention")
        _audit(conn, 1, "fresh")
        old_done = _event(conn, 120, "processed", "ch_old")
        old_parked = _event(conn, 120, "manual_review", "ch_parked")
        new_done = _event(conn, 5, "processed", "ch_new")
    settings = api_settings(audit_retention_days=365, webhook_payload_retention_days=90,
                            retention_interval_seconds=3600)
    with ConnectionPool(pg_url, min_size=1, max_size=4) as pool:
        loop = AdminLoop(pool, settings, load_settings(cashbook_home=tmp_path))
        first = loop.tick()["retention"]
        assert first is not None
        assert (first["audit_rows_deleted"], first["webhook_payloads_purged"]) == (1, 1)
        assert loop.tick()["retention"] is None  # not due again within the interval
        with psycopg.connect(pg_url) as conn:
            actions = [a for (a,) in conn.execute("SELECT action FROM audit_log ORDER BY audit_id").fetchall()]
            assert actions == ["recent-but-past-a-short-retention", "fresh", "retention.enforce"]
            payloads = dict(conn.execute("SELECT id, payload FROM webhook_events").fetchall())
            purged = dict(conn.execute("SELECT id, payload_purged_at IS NOT NULL FROM webhook_events").fetchall())
        assert purged == {old_done: True, old_parked: False, new_done: False}
        assert payloads[old_done]["purged"] is True and payloads[old_done]["data"]["object"]["id"] == "ch_old"
        assert "billing_details" not in payloads[old_done]["data"]["object"]
        assert "billing_details" in payloads[old_parked]["data"]["object"]  # parked: kept for review
        # the configured retention cannot go below the database's 30-day floor, and others cannot delete at all
        with psycopg.connect(pg_url) as conn:
            conn.execute("SELECT set_config('cashbook.audit_retention_cutoff', now()::text, true)")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM audit_log WHERE action = 'fresh'")
        for sql in ("DELETE FROM audit_log", "UPDATE audit_log SET actor = 'x'", "TRUNCATE audit_log"):
            with psycopg.connect(pg_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
        # a shorter retention takes the 40-day-old row on the next due run
        with psycopg.connect(pg_url) as conn:
            conn.execute("UPDATE admin_jobs SET finished_at = now() - interval '2 hours' WHERE kind = 'retention'")
        loop.settings = api_settings(audit_retention_days=30, retention_interval_seconds=3600)
        second = loop.tick()["retention"]
        assert second is not None and second["audit_rows_deleted"] == 1


def test_retention_settings_are_bounded() -> None:
    with pytest.raises(ValueError):
        api_settings(audit_retention_days=7)
    with pytest.raises(ValueError):
        api_settings(webhook_payload_retention_days=0)
    with pytest.raises(ValueError):
        api_settings(max_manual_payment={"dollars": 5})
    assert api_settings(max_manual_payment={"USD": 5}).max_manual_payment == {"usd": 5}
