"""Manual payments (issue 13): four-eyes approval, exactly one ledger row, Idempotency-Key replay, limits."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.integration.api_fixtures import ApiFactory


def q(pg_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql, params).fetchall()


def _user(pg_url: str, user: str, customer: str | None = None) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO users (id, email, stripe_customer_id) VALUES (%s, %s, %s)",
                     (user, f"{user}@example.test", customer))


def _start(running_api_factory: ApiFactory, **overrides: Any) -> Any:
    return running_api_factory(worker_in_process=False, max_manual_payment={"usd": 500_000, "jpy": 100_000},
                               manual_payment_approval_threshold={"usd": 10_000, "jpy": 1_000},
                               manual_credits_approval_threshold=100, **overrides)


def test_four_eyes_above_the_threshold(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = _start(running_api_factory)
    _user(pg_url, "u1", "cus_1")
    alice, bob = api.admin_token("alice"), api.admin_token("bob")
    body = {"user_id": "u1", "amount": 25_000, "currency": "USD", "reason": "wire transfer 2025-03-01",
            "credits": 500, "stripe_id": "ch_big1"}
    r = api.client.post("/api/admin/payments/manual", json=body, headers={**alice, "Idempotency-Key": "k1"})
    assert r.status_code == 201, r.text
    mp = r.json()
    assert (mp["status"], mp["type"], mp["currency"], mp["created_by"]) == ("pending_approval", "payment", "usd",
                                                                             "alice")
    assert mp["ledger_entry_id"] is None and mp["created_at"].endswith("Z")
    # nothing is written before approval
    assert q(pg_url, "SELECT count(*) FROM ledger_entries") == [(0,)]
    assert q(pg_url, "SELECT count(*) FROM credit_movements") == [(0,)]
    # the creator cannot approve her own payment
    r = api.client.post(f"/api/admin/payments/manual/{mp['id']}/approve", headers=alice)
    assert r.status_code == 403 and r.json()["type"].endswith("/four_eyes_required")
    assert r.headers["content-type"].startswith("application/problem+json")
    assert q(pg_url, "SELECT status FROM manual_payments") == [("pending_approval",)]
    # a different admin approves: exactly one ledger row and the credits, in that transaction
    r = api.client.post(f"/api/admin/payments/manual/{mp['id']}/approve", headers=bob, json={"note": "checked"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["status"], done["approved_by"], done["decision_note"]) == ("recorded", "bob", "checked")
    assert q(pg_url, "SELECT entry_id, type, amount, currency, stripe_id, customer_id FROM ledger_entries") == [
        (f"manual_{mp['id']}", "payment", 25_000, "usd", "ch_big1", "cus_1")]
    assert q(pg_url, "SELECT balance FROM credit_balances WHERE user_id = 'u1'") == [(500,)]
    # approving again is a conflict, and still one ledger row
    r = api.client.post(f"/api/admin/payments/manual/{mp['id']}/approve", headers=api.admin_token("carol"))
    assert r.status_code == 409 and r.json()["type"].endswith("/not_pending")
    assert q(pg_url, "SELECT count(*) FROM ledger_entries") == [(1,)]
    # audited: create and approve change rows, with the approver as actor
    assert q(pg_url, "SELECT actor, action, target FROM audit_log WHERE outcome = 'changed' ORDER BY audit_id") == [
        ("alice", "manual_payment.create", mp["id"]), ("bob", "manual_payment.approve", mp["id"])]
    # a read is recorded with its target too
    assert api.client.get(f"/api/admin/payments/manual/{mp['id']}", headers=bob).json()["status"] == "recorded"
    assert q(pg_url, "SELECT target FROM audit_log WHERE outcome = 'allowed' AND method = 'GET'") == [(mp["id"],)]
    # the database itself refuses a self-approval
    with psycopg.connect(pg_url) as conn:
        try:
            conn.execute("UPDATE manual_payments SET approved_by = created_by")
            raise AssertionError("self-approval accepted by the database")
        except psycopg.errors.CheckViolation:
            pass


def test_below_threshold_is_recorded_at_once_and_replays(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = _start(running_api_factory)
    _user(pg_url, "u2")
    alice = api.admin_token("alice")
    body = {"user_id": "u2", "amount": -1_500, "currency": "usd", "reason": "goodwill refund by bank"}
    headers = {**alice, "Idempotency-Key": "adj-1"}
    first = api.client.post("/api/admin/payments/manual", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert (first.json()["status"], first.json()["type"]) == ("recorded", "manual_adjustment")
    again = api.client.post("/api/admin/payments/manual", json=body, headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert q(pg_url, "SELECT type, amount, stripe_id FROM ledger_entries") == [("manual_adjustment", -1_500, None)]
    assert q(pg_url, "SELECT count(*) FROM manual_payments") == [(1,)]
    # the same key with another body
    other = api.client.post("/api/admin/payments/manual", json={**body, "amount": -1_600}, headers=headers)
    assert other.status_code == 409 and other.json()["type"].endswith("/idempotency_key_reused")
    # no key at all: refused, nothing written
    nokey = api.client.post("/api/admin/payments/manual", json=body, headers=alice)
    assert nokey.status_code == 400 and nokey.json()["type"].endswith("/idempotency_key_required")
    assert q(pg_url, "SELECT count(*) FROM ledger_entries") == [(1,)]
    # listed, newest first, with a cursor
    for i in range(3):
        r = api.client.post("/api/admin/payments/manual", headers={**alice, "Idempotency-Key": f"more-{i}"},
                            json={**body, "amount": -(i + 1)})
        assert r.status_code == 201
    page = api.client.get("/api/admin/manual-payments", params={"limit": 3}, headers=alice).json()
    assert [i["amount"] for i in page["items"]] == [-3, -2, -1] and page["next_cursor"]
    rest = api.client.get("/api/admin/manual-payments", params={"limit": 3, "cursor": page["next_cursor"]},
                          headers=alice).json()
    assert [i["amount"] for i in rest["items"]] == [-1_500] and rest["next_cursor"] is None
    bad = api.client.get("/api/admin/manual-payments", params={"cursor": "bm90LWpzb24"}, headers=alice)
    assert bad.status_code == 400 and bad.json()["type"].endswith("/bad_cursor")


def test_limits_and_refusals(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = _start(running_api_factory)
    _user(pg_url, "u3")
    alice = api.admin_token("alice")

    def post(key: str, **body: Any) -> Any:
        base = {"user_id": "u3", "amount": 100, "currency": "usd", "reason": "test case"}
        return api.client.post("/api/admin/payments/manual", json={**base, **body},
                               headers={**alice, "Idempotency-Key": key})

    over = post("o1", amount=500_001)
    assert over.status_code == 422 and over.json()["type"].endswith("/manual_payment_over_limit")
    assert over.json()["limit"] == 500_000
    assert post("o2", currency="chf").json()["type"].endswith("/currency_not_allowed")
    assert post("o3", type="payment").json()["type"].endswith("/stripe_id_required")
    assert post("o4", amount=-5, stripe_id="ch_x", type="payment").json()["type"].endswith("/invalid_amount")
    assert post("o5", user_id="nobody").status_code == 404
    assert post("o6", credits=100_001).json()["type"].endswith("/manual_credits_over_limit")
    # zero-decimal currency: the limit is in yen
    assert post("o7", currency="jpy", amount=900).json()["status"] == "recorded"
    assert post("o8", currency="jpy", amount=5_000).json()["status"] == "pending_approval"
    # credits above their threshold need approval even for a small amount
    assert post("o9", credits=101).json()["status"] == "pending_approval"
    # a refusal replays like a success (stored under its key)
    assert post("o1", amount=500_001).headers.get("idempotent-replayed") == "true"
    assert q(pg_url, "SELECT count(*), sum(amount) FROM ledger_entries") == [(1, 900)]
    # not an admin: refused
    r = api.client.post("/api/admin/payments/manual", json={"user_id": "u3", "amount": 1, "currency": "usd",
                                                            "reason": "x y z"},
                        headers={**api.token("u3"), "Idempotency-Key": "z"})
    assert r.status_code == 403


def test_a_stripe_object_already_in_the_ledger_is_not_booked_twice(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = _start(running_api_factory)
    _user(pg_url, "u4")
    alice, bob = api.admin_token("alice"), api.admin_token("bob")
    body = {"user_id": "u4", "amount": 20_000, "currency": "usd", "reason": "webhook lost", "stripe_id": "ch_dup"}
    mp = api.client.post("/api/admin/payments/manual", json=body, headers={**alice, "Idempotency-Key": "d1"}).json()
    with psycopg.connect(pg_url) as conn:  # meanwhile the webhook arrives after all
        conn.execute("INSERT INTO ledger_entries (entry_id, occurred_at, type, amount, currency, stripe_id)"
                     " VALUES ('api_payment_ch_dup', now(), 'payment', 20000, 'usd', 'ch_dup')")
    r = api.client.post(f"/api/admin/payments/manual/{mp['id']}/approve", headers=bob)
    assert r.status_code == 409 and r.json()["type"].endswith("/already_in_ledger")
    assert q(pg_url, "SELECT status FROM manual_payments") == [("pending_approval",)]
    assert q(pg_url, "SELECT count(*) FROM ledger_entries WHERE stripe_id = 'ch_dup'") == [(1,)]
    # it can be rejected instead (by anyone, the creator too)
    r = api.client.post(f"/api/admin/payments/manual/{mp['id']}/reject", headers=alice, json={"note": "duplicate"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert api.client.post(f"/api/admin/payments/manual/{mp['id']}/approve", headers=bob).status_code == 409
