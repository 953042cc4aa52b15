"""analytics.discrepancies keeps identity across runs: new → open, gone → resolved, manual resolution sticks."""

from __future__ import annotations

import datetime as dt

import psycopg
import pyarrow as pa

from cashbook.db.migrate import migrate
from cashbook.discrepancy_lifecycle import publish_discrepancies, resolve_manually
from tests.discrepancy_rows import discrepancy, discrepancy_table


def _rows(*ids: str, diff: int = 100) -> pa.Table:
    return discrepancy_table([discrepancy(i, difference=diff, stripe_amount=4900, detail="") for i in ids])


def _status(url: str) -> dict[str, tuple]:
    with psycopg.connect(url) as conn:
        return {r[0]: r[1:] for r in conn.execute(
            "SELECT discrepancy_id, status, resolution_source, first_seen_at, last_seen_at, resolved_by "
            "FROM analytics.discrepancies")}


def test_lifecycle_across_runs(pg_url: str) -> None:
    migrate(pg_url)
    t1 = dt.datetime(2025, 1, 2, tzinfo=dt.UTC)
    t2 = t1 + dt.timedelta(days=1)
    t3 = t2 + dt.timedelta(days=1)
    t4 = t3 + dt.timedelta(days=1)

    r1 = publish_discrepancies(pg_url, _rows("a", "b", "c"), run_id="run1", seen_at=t1)
    assert r1["new"] == 3 and r1["open"] == 3

    with psycopg.connect(pg_url) as conn:
        assert resolve_manually(conn, "c", note="booked by hand in the GL", who="finance@example.com")

    r2 = publish_discrepancies(pg_url, _rows("a", "c", diff=50), run_id="run2", seen_at=t2)
    s = _status(pg_url)
    assert r2["new"] == 0 and r2["auto_resolved"] == 1
    assert s["a"][:2] == ("open", None) and s["a"][2] == t1 and s["a"][3] == t2  # identity kept, first_seen kept
    assert s["b"][:2] == ("resolved", "auto")
    assert s["c"][:2] == ("resolved", "manual") and s["c"][4] == "finance@example.com"  # run did not reopen it

    publish_discrepancies(pg_url, _rows("a", "b"), run_id="run3", seen_at=t3)
    s = _status(pg_url)
    assert s["b"][:2] == ("open", None)  # found again: reopened
    assert s["c"][:2] == ("resolved", "manual")

    # the same input again changes nothing but last_seen_at
    publish_discrepancies(pg_url, _rows("a", "b"), run_id="run4", seen_at=t4)
    assert {k: v[:2] for k, v in _status(pg_url).items()} == {
        "a": ("open", None), "b": ("open", None), "c": ("resolved", "manual")}


def test_pending_that_becomes_missing_is_superseded_not_resolved(pg_url: str) -> None:
    migrate(pg_url)
    base = {"stripe_balance_transaction_id": "txn_1", "stripe_object_id": "ch_1", "ledger_entry_id": None,
            "stripe_amount": 4900, "ledger_amount": None, "difference": 4900, "detail": ""}
    publish_discrepancies(pg_url, discrepancy_table([discrepancy("p1", "pending", **base)]), run_id="r1")
    counts = publish_discrepancies(pg_url, discrepancy_table([discrepancy("m1", "missing_in_ledger", **base)]),
                                   run_id="r2")
    assert counts["superseded"] == 1 and counts["auto_resolved"] == 0
    with psycopg.connect(pg_url) as conn:
        rows = dict((r[0], r[1:]) for r in conn.execute(
            "SELECT discrepancy_id, status, resolution_source, resolution_note FROM analytics.discrepancies"))
    assert rows["p1"] == ("resolved", "superseded", "became missing_in_ledger m1")
    assert rows["m1"][:2] == ("open", None)
