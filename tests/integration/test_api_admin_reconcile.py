"""Reconcile on demand (issue 13), the worker path: 202 with a job id, the job runs in the API process against a
simulated account, counts by kind and currency equal a direct reconciliation; a second start while one is active
is 409; an unreachable Dagster webserver is a 502 that frees the slot."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pytest

from cashbook.reconcile.runner import load_inputs, load_into, run_reconciliation
from cashbook.simulator import SimConfig, simulate
from tests.integration.api_fixtures import ApiFactory, free_port, wait_until

AS_OF = "2025-04-05T00:00:00+00:00"


@pytest.fixture()
def account(tmp_path: Path, cashbook_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from cashbook.settings import get_settings

    export = tmp_path / "export"
    simulate(SimConfig(out=export, customers=25, months=1, seed=11, start=dt.date(2025, 3, 1)))
    monkeypatch.setenv("STRIPE_SOURCE", "export")
    monkeypatch.setenv("STRIPE_EXPORT_DIR", str(export))
    monkeypatch.setenv("LEDGER_SOURCE", "csv")
    monkeypatch.setenv("LEDGER_CSV_PATHS", str(export / "ledger.csv"))
    get_settings.cache_clear()
    return export


def _expected(export: Path, ledger: pa.Table | None = None) -> Counter[tuple[str, str | None]]:
    con = duckdb.connect()
    tables = load_inputs(export, export / "ledger.csv")
    if ledger is not None:
        tables["ledger_entries"] = ledger
    load_into(con, tables)
    run_reconciliation(con, as_of=dt.datetime.fromisoformat(AS_OF))
    rows = con.execute("SELECT kind, currency FROM marts.discrepancies").fetchall()
    con.close()
    return Counter(rows)


def test_worker_job_reconciles_and_reports_counts(running_api_factory: ApiFactory, pg_url: str, account: Path) -> None:
    api = running_api_factory(worker_in_process=False)
    a = api.admin_token("ops")
    # another process's job is running: a second start is refused by the database's one-active-job index
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO admin_jobs (id, kind, status, runner, requested_by, started_at) VALUES"
                     " ('job_0other', 'reconcile_payments', 'running', 'worker', 'someone', now())")
    r = api.client.post("/api/admin/reconcile/payments", json={"as_of": AS_OF}, headers=a)
    assert r.status_code == 409 and r.json()["type"].endswith("/reconcile_in_progress")
    assert r.json()["job_id"] == "job_0other"
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE admin_jobs SET status = 'failed', finished_at = now() WHERE id = 'job_0other'")

    r = api.client.post("/api/admin/reconcile/payments", json={"as_of": AS_OF}, headers=a)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["runner"] == "worker" and job["status"] in ("queued", "running", "succeeded")
    assert job["as_of"] == "2025-04-05T00:00:00Z"

    def done() -> dict[str, Any] | None:
        got = api.client.get(f"/api/admin/reconcile/payments/{job['job_id']}", headers=a).json()
        return got if got["status"] in ("succeeded", "failed") else None

    final = wait_until(done, timeout=300, interval=0.5)
    assert final["status"] == "succeeded", final["error"]
    expected = _expected(account)
    assert sum(expected.values()) > 0  # the simulated account has discrepancies to count
    assert {(c["kind"], c["currency"]): c["count"] for c in final["counts"]} == dict(expected)
    assert final["summary"]["found"] == sum(expected.values())
    with psycopg.connect(pg_url) as conn:
        published = conn.execute("SELECT count(*) FROM analytics.discrepancies WHERE last_run_id = %s",
                                 (f"admin-{job['job_id']}",)).fetchone()[0]
        audited = conn.execute("SELECT actor, target FROM audit_log WHERE action = 'reconcile.start'").fetchall()
    assert published == sum(expected.values())
    assert audited == [("ops", job["job_id"])]
    # the slot is free again once it finished
    again = api.client.post("/api/admin/reconcile/payments", json={"as_of": AS_OF}, headers=a)
    assert again.status_code == 202
    wait_until(lambda: api.client.get(f"/api/admin/reconcile/payments/{again.json()['job_id']}",
                                      headers=a).json()["status"] == "succeeded", timeout=300, interval=0.5)
    assert api.client.get("/api/admin/reconcile/payments/job_ffff", headers=a).status_code == 404
    naive = api.client.post("/api/admin/reconcile/payments", json={"as_of": "2025-04-05T00:00:00"}, headers=a)
    assert naive.status_code == 422


def test_unreachable_dagster_is_502_and_frees_the_slot(running_api_factory: ApiFactory, pg_url: str) -> None:
    api = running_api_factory(worker_in_process=False,
                              dagster_graphql_url=f"http://127.0.0.1:{free_port()}/graphql")
    a = api.admin_token("ops")
    r = api.client.post("/api/admin/reconcile/payments", headers=a)
    assert r.status_code == 502 and r.json()["type"].endswith("/dagster_unavailable")
    job_id = r.json()["job_id"]
    got = api.client.get(f"/api/admin/reconcile/payments/{job_id}", headers=a).json()
    assert (got["status"], got["runner"]) == ("failed", "dagster")
    assert api.client.post("/api/admin/reconcile/payments", headers=a).status_code == 502  # not 409


def test_worker_job_reads_the_lake_and_the_postgres_ledger(running_api_factory: ApiFactory, pg_url: str, account: Path,
                                                           cashbook_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """STRIPE_SOURCE=api: Stripe data from the raw lake the pipeline landed; LEDGER_SOURCE=postgres: the API's
    own ledger_entries (a stale ledger in the lake is ignored)."""
    from cashbook.settings import get_settings
    from cashbook.sources.ledger_csv import read_ledger_csv
    from tests.integration.lake_fixtures import land

    land(cashbook_home / "lake", account)  # Stripe streams only: no ledger in the lake
    monkeypatch.setenv("STRIPE_SOURCE", "api")
    monkeypatch.setenv("LEDGER_SOURCE", "postgres")
    get_settings.cache_clear()
    api = running_api_factory(worker_in_process=False)
    # the API's table holds one entry per (type, Stripe object): the simulator's deliberate duplicates stay out
    csv_ledger = read_ledger_csv(account / "ledger.csv")
    seen: set[tuple[str, str]] = set()
    keep = []
    for i, r in enumerate(csv_ledger.to_pylist()):
        key = (r["type"], r["stripe_id"])
        if r["stripe_id"] is None or key not in seen:
            seen.add(key)
            keep.append(i)
    kept = csv_ledger.take(keep)
    assert kept.num_rows < csv_ledger.num_rows  # the account has duplicates to leave out
    with psycopg.connect(pg_url) as conn, conn.cursor().copy(
            "COPY ledger_entries (entry_id, occurred_at, type, amount, currency, stripe_id, customer_id, description)"
            " FROM STDIN") as copy:
        for r in kept.to_pylist():
            copy.write_row([r["entry_id"], r["occurred_at"], r["type"], r["amount"], r["currency"], r["stripe_id"],
                            r["customer_id"], r["description"]])
    a = api.admin_token("ops")
    job = api.client.post("/api/admin/reconcile/payments", json={"as_of": AS_OF}, headers=a).json()
    final = wait_until(lambda: (got := api.client.get(f"/api/admin/reconcile/payments/{job['job_id']}",
                                                      headers=a).json())["status"] in ("succeeded", "failed") and got,
                       timeout=300, interval=0.5)
    assert final["status"] == "succeeded", final["error"]
    expected = _expected(account, kept.set_column(kept.schema.get_field_index("source"), "source",
                                                  pa.array(["postgres"] * kept.num_rows)))
    assert {(c["kind"], c["currency"]): c["count"] for c in final["counts"]} == dict(expected)
