"""Auto-fix of missing_in_ledger (issue 13): a dry-run listing by default; with the flag on, the proposed ledger
rows are applied once (through the manual-payment path), audited; ineligible discrepancies say why."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from cashbook.db.migrate import migrate
from cashbook.discrepancy_lifecycle import publish_discrepancies
from tests.discrepancy_rows import discrepancy, discrepancy_table
from tests.integration.api_fixtures import ApiFactory, load_event, wait_until


def _disc(did: str, obj: str, amount: int, currency: str = "usd") -> dict[str, Any]:
    return discrepancy(did, "missing_in_ledger", difference=amount, stripe_amount=amount, ledger_amount=None,
                       stripe_object_id=obj, ledger_entry_id=None, currency=currency,
                       occurred_at=dt.datetime(2025, 3, 1, tzinfo=dt.UTC), detail="no ledger entry")


def _park(pg_url: str, event: dict[str, Any], status: str) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO webhook_events (id, type, created, payload, status, attempts) VALUES"
                     " (%s, %s, %s, %s, %s, 1)", (event["id"], event["type"], event["created"], Jsonb(event), status))


def test_autofix_dry_run_then_apply_once(running_api_factory: ApiFactory, localstripe_url: str, pg_url: str) -> None:
    migrate(pg_url)
    off = running_api_factory(localstripe_url, worker_in_process=False)
    gw = off.app.state.gateway
    # a real charge at (local)Stripe whose webhook never arrived
    cus = gw.create_customer(user_id="u1", email=None, idempotency_key=f"cus-{uuid.uuid4().hex}")["id"]
    pi = gw.create_payment_intent(amount=4_200, currency="usd", customer_id=cus, payment_method="pm_card_visa",
                                  metadata={}, idempotency_key=f"pi-{uuid.uuid4().hex}")
    pi = gw.confirm_payment_intent(pi["id"], payment_method=None, idempotency_key=f"c-{uuid.uuid4().hex}")
    charge = gw.latest_charge_id(pi)
    assert charge and charge.startswith("ch_")
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO users (id, stripe_customer_id) VALUES ('u1', %s)", (cus,))
    # a charge whose webhook was parked for review (its payload carries the object)
    _park(pg_url, load_event("charge.refunded", object={"id": "ch_parked1", "customer": cus, "amount": 1_500,
                                                           "currency": "eur", "created": 1741000000}),
          "manual_review")
    # a charge whose webhook was processed (a human must look), and one of an unknown customer
    _park(pg_url, load_event("charge.refunded", object={"id": "ch_done", "customer": cus}), "processed")
    _park(pg_url, load_event("charge.refunded", object={"id": "ch_stranger", "customer": "cus_nobody"}),
          "manual_review")
    rows = [_disc("d_never", charge, 4_200), _disc("d_parked", "ch_parked1", 1_500, "eur"),
            _disc("d_done", "ch_done", 100), _disc("d_stranger", "ch_stranger", 100)]
    publish_discrepancies(pg_url, discrepancy_table(rows), run_id="r1")

    a = off.admin_token("ops")
    page = off.client.get("/api/admin/autofix/proposals", headers=a).json()
    assert page["enabled"] is False
    by_id = {p["discrepancy_id"]: p for p in page["items"]}
    never, parked = by_id["d_never"], by_id["d_parked"]
    assert (never["eligible"], never["source"], never["user_id"], never["type"], never["amount"], never["currency"],
            never["stripe_id"]) == (True, "stripe", "u1", "payment", 4_200, "usd", charge)
    assert (parked["eligible"], parked["source"], parked["amount"], parked["currency"], parked["occurred_at"]) == (
        True, "webhook_payload", 1_500, "eur", "2025-03-03T11:06:40Z")
    assert parked["webhook_event_id"] is not None
    assert (by_id["d_done"]["eligible"], by_id["d_done"]["reason"]) == (False, "webhook_processed")
    assert (by_id["d_stranger"]["eligible"], by_id["d_stranger"]["reason"]) == (False, "unknown_user")
    # the flag is off: nothing is applied
    r = off.client.post("/api/admin/autofix/apply", json={"discrepancy_ids": ["d_never"]}, headers=a)
    assert r.status_code == 409 and r.json()["type"].endswith("/autofix_disabled")
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM ledger_entries").fetchone() == (0,)

    on = running_api_factory(localstripe_url, worker_in_process=False, autofix_enabled=True)
    ids = ["d_never", "d_parked", "d_done", "d_unknown"]
    first = on.client.post("/api/admin/autofix/apply", json={"discrepancy_ids": ids}, headers=a)
    assert first.status_code == 200, first.text
    result = {x["discrepancy_id"]: x for x in first.json()}
    assert result["d_never"]["applied"] and result["d_parked"]["applied"]
    assert (result["d_done"]["applied"], result["d_done"]["reason"]) == (False, "webhook_processed")
    assert result["d_unknown"]["reason"] == "not_an_open_missing_in_ledger"
    # applied again (a retry, a second admin): the same manual payments, no second ledger row
    again = {x["discrepancy_id"]: x for x in on.client.post("/api/admin/autofix/apply", json={
        "discrepancy_ids": ids}, headers=on.admin_token("ops2")).json()}
    assert (again["d_never"]["applied"], again["d_never"]["reason"]) == (False, "already_in_ledger")
    with psycopg.connect(pg_url) as conn:
        ledger = conn.execute("SELECT type, amount, currency, stripe_id, customer_id, occurred_at FROM ledger_entries"
                              " ORDER BY stripe_id").fetchall()
        audited = conn.execute("SELECT actor, target FROM audit_log WHERE action = 'autofix_payment.create'"
                               " ORDER BY audit_id").fetchall()
        sources = conn.execute("SELECT source, discrepancy_id FROM manual_payments ORDER BY discrepancy_id").fetchall()
    assert [(t, amt, cur, sid, c) for t, amt, cur, sid, c, _ in ledger] == sorted(
        [("payment", 4_200, "usd", charge, cus), ("payment", 1_500, "eur", "ch_parked1", cus)], key=lambda x: x[3])
    assert dt.datetime(2025, 3, 3, 11, 6, 40, tzinfo=dt.UTC) in [row[5] for row in ledger]
    assert audited == [("ops", result["d_never"]["manual_payment_id"]), ("ops", result["d_parked"]["manual_payment_id"])]
    assert sources == [("autofix", "d_never"), ("autofix", "d_parked")]
    # now in the ledger: the proposal for the fixed one says so (its row exists, so the next run resolves it)
    after = {p["discrepancy_id"]: p for p in on.client.get("/api/admin/autofix/proposals", headers=a).json()["items"]}
    assert (after["d_never"]["eligible"], after["d_never"]["reason"]) == (False, "already_in_ledger")


def test_autofix_then_the_next_reconciliation_resolves(running_api_factory: ApiFactory, pg_url: str, tmp_path: Path,
                                                       cashbook_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end on a simulated account: reconcile (worker job) → missing_in_ledger charges and a dispute →
    auto-fix fetches each object from Stripe (the replay server over the account's export) → the next
    reconciliation finds the ledger rows and resolves every one of them."""
    from cashbook.replay import ReplayServer
    from cashbook.settings import get_settings
    from cashbook.simulator import SimConfig, simulate

    export = tmp_path / "export"
    simulate(SimConfig(out=export, customers=25, months=1, seed=11, start=dt.date(2025, 3, 1)))
    monkeypatch.setenv("STRIPE_SOURCE", "export")
    monkeypatch.setenv("STRIPE_EXPORT_DIR", str(export))
    monkeypatch.setenv("LEDGER_SOURCE", "postgres")
    get_settings.cache_clear()
    migrate(pg_url)
    with psycopg.connect(pg_url) as conn:  # the API's ledger: the account's entries, one per (type, object)
        conn.execute("CREATE TEMP TABLE l (entry_id text, occurred_at timestamptz, type text, amount bigint,"
                     " currency text, stripe_id text, customer_id text, description text)")
        from cashbook.sources.ledger_csv import read_ledger_csv

        with conn.cursor().copy("COPY l FROM STDIN") as copy:
            for r in read_ledger_csv(export / "ledger.csv").to_pylist():
                copy.write_row([r["entry_id"], r["occurred_at"], r["type"], r["amount"], r["currency"],
                                r["stripe_id"], r["customer_id"], r["description"]])
        conn.execute("INSERT INTO ledger_entries (entry_id, occurred_at, type, amount, currency, stripe_id,"
                     " customer_id, description) SELECT * FROM l ON CONFLICT DO NOTHING")
        customers = [json.loads(line)["id"] for line in (export / "customers.jsonl").read_text().splitlines()]
        for i, cus in enumerate(customers):
            conn.execute("INSERT INTO users (id, stripe_customer_id) VALUES (%s, %s)", (f"user{i}", cus))
    with ReplayServer(export) as stripe_replay:
        api = running_api_factory(stripe_replay.url, worker_in_process=False, autofix_enabled=True)
        a = api.admin_token("ops")

        def reconcile() -> dict[str, Any]:
            job = api.client.post("/api/admin/reconcile/payments", json={"as_of": "2025-04-05T00:00:00Z"},
                                  headers=a).json()
            done = wait_until(lambda: (got := api.client.get(f"/api/admin/reconcile/payments/{job['job_id']}",
                                                             headers=a).json())["status"] != "queued"
                              and got["status"] != "running" and got, timeout=300, interval=0.5)
            assert done["status"] == "succeeded", done["error"]
            return done

        reconcile()
        page = api.client.get("/api/admin/autofix/proposals", headers=a).json()
        eligible = [p for p in page["items"] if p["eligible"]]
        assert {p["type"] for p in eligible} >= {"payment", "dispute"}
        assert all(p["source"] == "stripe" for p in eligible)
        ids = [p["discrepancy_id"] for p in eligible]
        applied = api.client.post("/api/admin/autofix/apply", json={"discrepancy_ids": ids}, headers=a).json()
        assert all(x["applied"] for x in applied), applied
        reconcile()
    with psycopg.connect(pg_url) as conn:
        statuses = conn.execute("SELECT status, resolution_source FROM analytics.discrepancies"
                                " WHERE discrepancy_id = ANY(%s)", (ids,)).fetchall()
        new_findings = conn.execute(
            "SELECT kind, stripe_object_id FROM analytics.discrepancies WHERE status = 'open' AND stripe_object_id ="
            " ANY(%s)", ([p["stripe_object_id"] for p in eligible],)).fetchall()
    assert statuses == [("resolved", "auto")] * len(ids)
    assert new_findings == []  # the booked rows match their Stripe movements exactly
