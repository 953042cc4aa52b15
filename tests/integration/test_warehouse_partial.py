"""The warehouse on partial data, and subsets of it, through the real Dagster definitions.

Partial: an account that has landed only balance transactions (no ledger, no subscriptions yet) builds every
warehouse asset; marts that need the missing data are empty, the others are right; when the rest lands, the
next run picks it up. Subsets: one mart with its upstream (what `--select '+key:"marts/mrr_monthly"' minus the
raw groups` asks for) runs, and a subset that cannot run fails saying what to select.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import duckdb
import psycopg
import pytest

from cashbook.settings import load_settings
from cashbook.simulator import SimConfig, simulate
from cashbook.warehouse import build_path
from tests.integration.lake_fixtures import land

RAW_MINUS = " and not (group:stripe or group:ledger)"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "export"
    simulate(SimConfig(out=out, customers=30, months=2, seed=7, start=dt.date(2025, 1, 1)))
    return out


def _defs(home: Path, export: Path, pg_url: str) -> dg.Definitions:
    from pipelines.definitions import build_definitions

    return build_definitions(load_settings(cashbook_home=home, stripe_export_dir=export, database_url=pg_url,
                                           ledger_csv_paths=str(export / "ledger.csv")))


def _run(defs: dg.Definitions, selection: str | None = None) -> dg.ExecuteInProcessResult:
    if selection is None:
        job = defs.resolve_job_def("warehouse")
    else:
        keys = dg.AssetSelection.from_string(selection).resolve(defs.resolve_asset_graph())
        job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=keys)
    return job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def _failures(result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(str(e.step_failure_data.error.message if e.step_failure_data.error else "")
                     + str(e.step_failure_data.user_failure_data.description
                           if e.step_failure_data.user_failure_data else "")
                     for e in result.get_step_failure_events())


def _q(home: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(build_path(load_settings(cashbook_home=home))), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_only_balance_transactions_landed_then_the_rest(tmp_path: Path, export: Path, pg_url: str) -> None:
    home = tmp_path / "home"
    defs = _defs(home, export, pg_url)
    counts = land(home / "lake", export, ["balance_transactions"])
    first = _run(defs)
    assert first.success, _failures(first)

    assert _q(home, "SELECT sum(balance_transaction_count) FROM marts.revenue_daily") == \
        [(counts["stripe_balance_transactions"],)]
    assert _q(home, "SELECT count(*) FROM marts.mrr_monthly") == [(0,)]           # no invoices yet: built, empty
    assert _q(home, "SELECT count(*) FROM marts.payment_health_daily") == [(0,)]  # no charges yet
    kinds = {k for (k,) in _q(home, "SELECT DISTINCT kind FROM marts.discrepancies")}
    assert kinds and kinds <= {"missing_in_ledger", "pending"}                  # no ledger: every movement unmatched
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as published:  # analysts got it too
        assert published.execute("SELECT count(*) FROM marts.revenue_daily").fetchall()[0][0] > 0

    counts = land(home / "lake", export, ledger_csv=export / "ledger.csv")     # everything else lands
    second = _run(defs)
    assert second.success, _failures(second)
    assert _q(home, "SELECT count(*) FROM staging.stg_ledger_entries") == [(counts["ledger_entries"],)]
    truth = json.loads((export / "truth.json").read_text())
    mrr = {(m.strftime("%Y-%m"), c): v for m, c, v in _q(home, "SELECT month, currency, mrr FROM marts.mrr_monthly")}
    assert {k: v for k, v in mrr.items() if v} == {(m, c): v for m, per in truth["mrr"].items()
                                                     for c, v in per.items() if v}
    with psycopg.connect(pg_url) as conn:  # the marts analysts asked for are in Postgres too
        published = {t for (t,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'analytics'").fetchall()}
        assert conn.execute("SELECT pg_typeof(snapshot_at)::text FROM analytics.mrr_month_spine LIMIT 1"
                            ).fetchone() == ("timestamp with time zone",)
    assert {"payout_reconciliation", "reconciliation_summary", "mrr_customer_monthly", "mrr_month_spine",
            "discrepancies", "mrr_monthly"} <= published


def test_one_mart_with_its_upstream_minus_raw(tmp_path: Path, export: Path, pg_url: str) -> None:
    home = tmp_path / "home"
    defs = _defs(home, export, pg_url)
    land(home / "lake", export, ledger_csv=export / "ledger.csv")
    selection = '+key:"marts/mrr_monthly"' + RAW_MINUS
    result = _run(defs, selection)
    assert result.success, _failures(result)
    built = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert built == {"staging/stg_invoice_lines", "staging/stg_subscriptions", "marts/mrr_month_spine",
                     "marts/mrr_customer_monthly", "marts/mrr_movements", "marts/mrr_monthly"}
    tables = {t for (t,) in _q(home, "SELECT table_schema || '.' || table_name FROM information_schema.tables")}
    assert "marts.mrr_monthly" in tables and "marts.revenue_daily" not in tables  # only the subset was built
    assert "staging.stg_charges" not in tables


@pytest.mark.parametrize(("selection", "says"), [
    ('key:"marts/reconciliation_summary"',
     ["select marts/discrepancies too", '+key:"marts/reconciliation_summary"']),
    ('key:"staging/stg_balance_transactions"',
     ["reads staging/stg_reporting_categories", '+key:"staging/stg_balance_transactions"']),
    ('key:"marts/churn_monthly"', ["reads marts/mrr_monthly", '+key:"marts/churn_monthly"']),
])
def test_a_subset_that_cannot_run_says_what_to_select(tmp_path: Path, export: Path, pg_url: str,
                                                       selection: str, says: list[str]) -> None:
    home = tmp_path / "home"
    defs = _defs(home, export, pg_url)
    land(home / "lake", export, ledger_csv=export / "ledger.csv")
    result = _run(defs, selection)
    assert not result.success
    message = _failures(result)
    for text in says:
        assert text in message, message
    assert RAW_MINUS.strip() in message
