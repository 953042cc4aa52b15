"""Audit reports (issue 13): CSV and JSON with SHA-256, stored in reconciliation_reports, downloads return exactly
the hashed bytes, regenerating a period gives the same bytes unless its data changed."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tests.integration.api_fixtures import ApiFactory

MARCH = {"from": "2025-03-01", "to": "2025-03-31"}


def _seed_march(pg_url: str) -> None:
    t = dt.datetime(2025, 3, 10, 9, 30, tzinfo=dt.UTC)
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO users (id) VALUES ('u1')")
        for i, (typ, amount) in enumerate([("payment", 4_900), ("refund", -1_000), ("payment", 2_500)]):
            conn.execute("INSERT INTO ledger_entries (entry_id, occurred_at, type, amount, currency, stripe_id)"
                         " VALUES (%s, %s, %s, %s, 'usd', %s)", (f"le_{i}", t + dt.timedelta(hours=i), typ, amount,
                                                                 f"ch_{i}"))
        conn.execute("INSERT INTO ledger_entries (entry_id, occurred_at, type, amount, currency) VALUES"
                     " ('le_april', '2025-04-01T00:00:00Z', 'payment', 1, 'usd')")  # outside the period
        conn.execute("INSERT INTO manual_payments (id, user_id, type, amount, currency, reason, status, created_by,"
                     " created_at, approved_by, approved_at, ledger_entry_id) VALUES ('mp_a', 'u1',"
                     " 'manual_adjustment', 30000, 'usd', 'wire', 'recorded', 'alice', %s, 'bob', %s, 'manual_mp_a')",
                     (t, t + dt.timedelta(hours=2)))
        conn.execute("INSERT INTO manual_payments (id, user_id, type, amount, currency, reason, status, created_by,"
                     " created_at, rejected_by, rejected_at, decision_note) VALUES ('mp_b', 'u1',"
                     " 'manual_adjustment', -500, 'usd', 'typo', 'rejected', 'alice', %s, 'alice', %s, 'dup')",
                     (t, t + dt.timedelta(hours=1)))
        conn.execute("INSERT INTO analytics.discrepancy_resolutions (discrepancy_id, action, note, resolved_by,"
                     " resolved_at, previous_status) VALUES ('d1', 'resolve', 'booked', 'ops', %s, 'open')", (t,))
        conn.execute("INSERT INTO audit_log (occurred_at, actor, action, target, outcome, before, after, method, path,"
                     " request_id) VALUES (%s, 'bob', 'manual_payment.approve', 'mp_a', 'changed', %s, %s, 'POST',"
                     " '/api/admin/payments/manual/mp_a/approve', 'r1')",
                     (t, Jsonb({"status": "pending_approval"}), Jsonb({"status": "recorded"})))
        conn.execute("INSERT INTO webhook_events (id, type, created, payload, status, attempts, last_error,"
                     " received_at) VALUES ('evt_p', 'payment_intent.succeeded', 1741600000, '{}', 'manual_review', 1,"
                     " 'ManualReview: amount differs', %s)", (t,))
        conn.execute("INSERT INTO webhook_events (id, type, created, payload, status, received_at) VALUES"
                     " ('evt_ok', 'charge.succeeded', 1741600000, '{}', 'processed', %s)", (t,))


def _download(api: Any, headers: dict[str, str], url: str) -> bytes:
    r = api.client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["x-content-sha256"] == hashlib.sha256(r.content).hexdigest()
    return r.content


def test_report_digest_and_determinism(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory(worker_in_process=False)
    a = api.admin_token("auditor")
    _seed_march(pg_url)
    first = api.client.post("/api/admin/audit/generate", json={**MARCH, "format": "csv"}, headers=a)
    assert first.status_code == 201, first.text
    rep = first.json()
    assert rep["download_url"] == f"/api/admin/audit/{rep['report_id']}.csv" and rep["sha256"] == rep["sha256_csv"]
    assert rep["counts"] == {"ledger_entries": 3, "manual_payments": 2, "manual_payment_decisions": 2,
                             "discrepancy_resolutions": 1, "admin_actions": 1, "parked_webhooks": 1}
    csv_bytes = _download(api, a, rep["download_url"])
    assert hashlib.sha256(csv_bytes).hexdigest() == rep["sha256"]
    rows = list(csv.DictReader(io.StringIO(csv_bytes.decode())))
    assert [r["section"] for r in rows][:3] == ["ledger_entries"] * 3
    assert [(r["id"], r["amount"], r["occurred_at"]) for r in rows[:3]] == [
        ("le_0", "4900", "2025-03-10T09:30:00.000000Z"), ("le_1", "-1000", "2025-03-10T10:30:00.000000Z"),
        ("le_2", "2500", "2025-03-10T11:30:00.000000Z")]
    decisions = [(r["id"], r["kind"], r["actor"]) for r in rows if r["section"] == "manual_payment_decisions"]
    assert decisions == [("mp_b", "reject", "alice"), ("mp_a", "approve", "bob")]
    # the JSON rendering, same content
    second = api.client.post("/api/admin/audit/generate", json={**MARCH, "format": "json"}, headers=a).json()
    assert second["report_id"] != rep["report_id"]
    assert (second["sha256_csv"], second["sha256_json"]) == (rep["sha256_csv"], rep["sha256_json"])
    doc = json.loads(_download(api, a, second["download_url"]))
    assert doc["period"] == {"from": "2025-03-01", "to": "2025-03-31", "timezone": "UTC"}
    assert doc["sections"]["parked_webhooks"][0]["id"] == "evt_p"
    assert doc["sections"]["admin_actions"][0]["detail"]["after"] == {"status": "recorded"}
    # byte-identical on regeneration; nothing about the generation is inside
    assert _download(api, a, second["download_url"]) == _download(api, a, f"/api/admin/audit/{rep['report_id']}.json")
    assert b"auditor" not in csv_bytes and rep["report_id"].encode() not in csv_bytes
    # the data of the period changes → so do the bytes
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO ledger_entries (entry_id, occurred_at, type, amount, currency) VALUES"
                     " ('le_late', '2025-03-31T23:59:59Z', 'manual_adjustment', 7, 'usd')")
    third = api.client.post("/api/admin/audit/generate", json=MARCH, headers=a).json()
    assert third["sha256_csv"] != rep["sha256_csv"] and third["counts"]["ledger_entries"] == 4
    # stored: who, period, digests; listed newest first
    with psycopg.connect(pg_url) as conn:
        stored = conn.execute("SELECT generated_by, period_from, period_to, csv_sha256 FROM reconciliation_reports"
                              " WHERE report_id = %s", (rep["report_id"],)).fetchone()
        assert stored == ("auditor", dt.date(2025, 3, 1), dt.date(2025, 3, 31), rep["sha256_csv"])
        try:
            conn.execute("UPDATE reconciliation_reports SET csv_sha256 = 'x'")
            raise AssertionError("a stored report was rewritten")
        except psycopg.errors.InsufficientPrivilege:
            pass
    listed = api.client.get("/api/admin/audit", params={"limit": 2}, headers=a).json()
    assert [i["report_id"] for i in listed["items"]] == [third["report_id"], second["report_id"]]
    assert listed["next_cursor"]
    assert api.client.get("/api/admin/audit/rpt_0000.csv", headers=a).status_code == 404
    bad = api.client.post("/api/admin/audit/generate", json={"from": "2025-03-02", "to": "2025-03-01"}, headers=a)
    assert bad.status_code == 422


def test_report_of_today_shows_the_admin_flow(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory(worker_in_process=False, manual_payment_approval_threshold={"usd": 10})
    alice, bob = api.admin_token("alice"), api.admin_token("bob")
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO users (id) VALUES ('u9')")
    mp = api.client.post("/api/admin/payments/manual", headers={**alice, "Idempotency-Key": "t1"},
                         json={"user_id": "u9", "amount": 5_000, "currency": "usd", "reason": "cheque"}).json()
    assert api.client.post(f"/api/admin/payments/manual/{mp['id']}/approve", headers=bob).status_code == 200
    today = dt.datetime.now(dt.UTC).date().isoformat()
    rep = api.client.post("/api/admin/audit/generate", json={"from": today, "to": today}, headers=bob).json()
    doc = json.loads(_download(api, bob, rep["download_url"]))
    assert [e["id"] for e in doc["sections"]["ledger_entries"]] == [f"manual_{mp['id']}"]
    assert [(d["kind"], d["actor"]) for d in doc["sections"]["manual_payment_decisions"]] == [("approve", "bob")]
    assert {"manual_payment.create", "manual_payment.approve"} <= {x["kind"] for x in doc["sections"]["admin_actions"]}
