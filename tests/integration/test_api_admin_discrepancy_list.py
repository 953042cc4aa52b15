"""`GET /api/admin/payments/discrepancies` (issue 13): filters, sort by amount or date, keyset cursor; resolve and
reopen with notes, the append-only history keeping both, and a later run treating a reopened row like any other."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg

from cashbook.db.migrate import migrate
from cashbook.discrepancy_lifecycle import publish_discrepancies
from tests.discrepancy_rows import discrepancy, discrepancy_table
from tests.integration.api_fixtures import ApiFactory


def _row(i: int, kind: str, currency: str, difference: int | None, day: int, **extra: Any) -> dict[str, Any]:
    return discrepancy(f"d{i:02d}", kind, difference=difference, stripe_amount=difference, ledger_amount=None,
                       stripe_balance_transaction_id=f"txn_{i}", stripe_object_id=f"ch_{i}", ledger_entry_id=None,
                       currency=currency, occurred_at=dt.datetime(2025, 3, day, 12, tzinfo=dt.UTC), detail="t",
                       **extra)


ROWS = [_row(1, "missing_in_ledger", "usd", 5_000, 1), _row(2, "missing_in_ledger", "usd", 300, 2),
        _row(3, "amount_mismatch", "usd", -7_000, 3), _row(4, "amount_mismatch", "eur", 100, 4),
        _row(5, "missing_in_ledger", "usd", 300, 5), _row(6, "missing_in_stripe", "usd", -50, 6)]


def _publish(url: str, rows: list[dict[str, Any]], run: str) -> None:
    publish_discrepancies(url, discrepancy_table(rows), run_id=run)


def _ids(page: dict[str, Any]) -> list[str]:
    return [i["discrepancy_id"] for i in page["items"]]


def test_filters_sort_and_cursor(running_api_factory: ApiFactory, pg_url: str) -> None:
    migrate(pg_url)
    _publish(pg_url, ROWS, "r1")
    api = running_api_factory(worker_in_process=False)
    a = api.admin_token("ops")

    def get(**params: Any) -> dict[str, Any]:
        r = api.client.get("/api/admin/payments/discrepancies", params=params, headers=a)
        assert r.status_code == 200, r.text
        return r.json()

    # largest |amount| first; ties by id (descending)
    assert _ids(get()) == ["d03", "d01", "d05", "d02", "d04", "d06"]
    assert _ids(get(sort="date")) == ["d06", "d05", "d04", "d03", "d02", "d01"]
    assert _ids(get(sort="date", order="asc")) == ["d01", "d02", "d03", "d04", "d05", "d06"]
    assert _ids(get(kind="missing_in_ledger", currency="USD")) == ["d01", "d05", "d02"]
    assert _ids(get(min_amount=300)) == ["d03", "d01", "d05", "d02"]
    assert _ids(get(**{"from": "2025-03-02", "to": "2025-03-04"})) == ["d03", "d02", "d04"]
    # pages of 2 walk the whole list once, in order, whatever the sort
    for sort in ("amount", "date"):
        seen, cursor = [], None
        while True:
            page = get(sort=sort, limit=2, **({"cursor": cursor} if cursor else {}))
            seen += _ids(page)
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == _ids(get(sort=sort))
    item = get(kind="missing_in_stripe")["items"][0]
    assert item["difference"] == -50 and item["currency"] == "usd" and item["occurred_at"].endswith("Z")
    bad = api.client.get("/api/admin/payments/discrepancies", params={"cursor": "AAAA"}, headers=a)
    assert bad.status_code == 400 and bad.json()["type"].endswith("/bad_cursor")
    rng = api.client.get("/api/admin/payments/discrepancies", params={"from": "2025-03-05", "to": "2025-03-01"},
                         headers=a)
    assert rng.status_code == 422
    assert api.client.get("/api/admin/payments/discrepancies", headers=api.token("u")).status_code == 403


def test_resolve_reopen_keeps_history(running_api_factory: ApiFactory, pg_url: str) -> None:
    migrate(pg_url)
    _publish(pg_url, ROWS, "r1")
    api = running_api_factory(worker_in_process=False)
    a = api.admin_token("ops", email="ops@example.test")
    base = "/api/admin/payments/discrepancies/d01"
    assert api.client.post(f"{base}/reopen", json={"note": "not resolved"}, headers=a).status_code == 409
    assert api.client.post(f"{base}/resolve", json={"note": "booked by hand"}, headers=a).status_code == 204
    assert api.client.post(f"{base}/reopen", json={"note": "GL entry was wrong"}, headers=a).status_code == 204
    listed = api.client.get("/api/admin/payments/discrepancies", params={"status": "open", "kind": "missing_in_ledger"},
                            headers=a).json()
    assert "d01" in _ids(listed)
    assert api.client.post(f"{base}/resolve", json={"note": "fixed for real"}, headers=a).status_code == 204
    history = api.client.get(f"{base}/history", headers=a).json()
    assert [(h["action"], h["note"], h["previous_status"], h["previous_note"]) for h in history] == [
        ("resolve", "booked by hand", "open", None), ("reopen", "GL entry was wrong", "resolved", "booked by hand"),
        ("resolve", "fixed for real", "open", None)]
    # the old route gives the same history
    assert api.client.get("/api/admin/discrepancies/d01/history", headers=a).json() == history
    with psycopg.connect(pg_url) as conn:
        actions = conn.execute("SELECT action FROM audit_log WHERE outcome = 'changed' ORDER BY audit_id").fetchall()
    assert actions == [("discrepancy.resolve",), ("discrepancy.reopen",), ("discrepancy.resolve",)]
    assert api.client.post("/api/admin/payments/discrepancies/nope/reopen", json={"note": "abc"},
                           headers=a).status_code == 404
    # a reopened row is an ordinary open row for the next run: found again → stays open; gone → auto-resolved
    assert api.client.post("/api/admin/discrepancies/d02/resolve", json={"note": "okay"}, headers=a).status_code == 204
    assert api.client.post("/api/admin/discrepancies/d02/reopen", json={"note": "not so"}, headers=a).status_code == 204
    _publish(pg_url, [r for r in ROWS if r["discrepancy_id"] != "d02"], "r2")
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT status, resolution_source FROM analytics.discrepancies WHERE discrepancy_id ="
                            " 'd02'").fetchone() == ("resolved", "auto")
