"""The marts through Dagster: raw partitions -> blocking checks -> staging -> marts -> checks -> Postgres.

The corrupted-partition test lands a partition with a duplicate id, a null amount and an unknown currency
(an ingestion stand-in writes it with the real lake writer, since the export reader refuses such rows
itself) and shows the real blocking check stops the real mart and names the rows.
"""


import datetime as dt
import json
from pathlib import Path

import dagster as dg
import psycopg
import pyarrow as pa

from assets.partitions import daily_partitions
from assets.resources import LakeResource
from cashbook.lake import write_partition
from cashbook.settings import load_settings
from cashbook.simulator import SimConfig, simulate
from cashbook.sources.streams import lake_schema


def _resources(tmp_path: Path, export: Path, pg_url: str) -> dict:
    from pipelines.definitions import build_resources

    settings = load_settings(cashbook_home=tmp_path / "home", stripe_export_dir=export,
                             ledger_csv_paths=str(export / "ledger.csv"), database_url=pg_url)
    return build_resources(settings)


def _evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e for e in result.get_asset_check_evaluations()}


def test_pipeline_publishes_marts_matching_truth(tmp_path: Path, pg_url: str) -> None:
    from assets.checks.mart_checks import invariant_checks, mart_quality_checks
    from assets.checks.raw_checks import raw_quality_checks
    from assets.ledger.raw import ledger_entries
    from assets.marts.marts import mart_assets
    from assets.marts.publish import publish_assets
    from assets.stripe.raw import stripe_raw_assets
    from assets.warehouse.reconciliation import reconciliation
    from assets.warehouse.staging import staging_tables

    export = tmp_path / "export"
    simulate(SimConfig(out=export, customers=40, months=2, seed=5, start=dt.date(2025, 1, 1)))
    resources = _resources(tmp_path, export, pg_url)
    instance = dg.DagsterInstance.ephemeral()
    tags = {"dagster/asset_partition_range_start": "2025-01-01", "dagster/asset_partition_range_end": "2025-02-28"}
    raw = dg.materialize([*stripe_raw_assets, ledger_entries, *raw_quality_checks], resources=resources,
                         instance=instance, tags=tags)
    raw_checks = _evaluations(raw)
    assert len(raw_checks) == 10 and all(e.passed for e in raw_checks.values()), raw_checks

    checks = [*mart_quality_checks, *invariant_checks[:2]]
    wh = dg.materialize([staging_tables, reconciliation, *mart_assets, *publish_assets, *checks], resources=resources,
                        instance=instance)
    evaluations = _evaluations(wh)
    assert set(evaluations) >= {"marts/mrr_monthly:mrr_identity", "marts/revenue_daily:revenue_totals",
                                "marts/mrr_monthly:gx_quality"}
    assert all(e.passed for e in evaluations.values()), {k: e.metadata for k, e in evaluations.items() if not e.passed}
    truth = json.loads((export / "truth.json").read_text())["mrr"]
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT to_char(month, 'YYYY-MM'), currency, mrr FROM analytics.mrr_monthly").fetchall()
        published = {t for (t,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'analytics'").fetchall()}
    got: dict[str, dict[str, int]] = {}
    for month, cur, mrr in rows:
        if mrr:
            got.setdefault(month, {})[cur] = mrr
    assert got == {m: {c: v for c, v in per.items() if v} for m, per in truth.items()}
    assert published >= {"revenue_daily", "revenue_monthly", "payment_health_daily", "mrr_monthly",
                         "mrr_movements", "churn_monthly", "cohort_retention"}


def _corrupt_rows(day: dt.date) -> pa.Table:
    """A day of balance transactions as a buggy source would send them."""
    t = int(dt.datetime(day.year, day.month, day.day, 1, tzinfo=dt.UTC).timestamp())
    base = {"created": t, "available_on": t, "fee": 30, "net": 970, "amount": 1000, "currency": "usd",
            "exchange_rate": None, "type": "charge", "reporting_category": "charge", "source": "ch_1",
            "status": "available", "description": None, "fee_details": None, "_raw": "{}"}
    rows = [
        {**base, "id": "txn_ok"},
        {**base, "id": "txn_dup"},
        {**base, "id": "txn_dup"},
        {**base, "id": "txn_null_amount", "amount": None},
        {**base, "id": "txn_bad_currency", "currency": "zzz"},
    ]
    return pa.Table.from_pylist(rows, schema=lake_schema("stripe_balance_transactions"))


@dg.asset(key=["raw", "stripe_balance_transactions"], partitions_def=daily_partitions, group_name="stripe")
def faulty_ingestion(context: dg.AssetExecutionContext, lake: LakeResource) -> None:
    """Stands in for the ingestion step landing bad data (the real export reader refuses such rows itself)."""
    day = dt.date.fromisoformat(context.partition_key)
    write_partition(lake.path, "stripe_balance_transactions", day, _corrupt_rows(day))


def test_corrupted_partition_blocks_marts_and_names_rows(tmp_path: Path, pg_url: str) -> None:
    from assets.checks.raw_checks import raw_quality_checks
    from assets.marts.marts import mart_assets

    resources = _resources(tmp_path, tmp_path / "none", pg_url)
    bt_check = raw_quality_checks[0]
    revenue = next(a for a in mart_assets if a.key == dg.AssetKey(["marts", "revenue_daily"]))
    result = dg.materialize([faulty_ingestion, bt_check, revenue], resources=resources, partition_key="2025-03-04",
                            raise_on_error=False)
    assert not result.success  # the run fails, so the warehouse sensor (on raw success) does not fire
    evaluation = _evaluations(result)["raw/stripe_balance_transactions:gx_quality"]
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    failing = evaluation.metadata["failing_rows"].value
    named = {(r["expectation"], r.get("id")) for r in failing}
    assert ("expect_column_values_to_be_unique", "txn_dup") in named
    assert ("expect_column_values_to_not_be_null", "txn_null_amount") in named
    assert ("expect_column_values_to_be_in_set", "txn_bad_currency") in named
    assert "txn_ok" not in {r.get("id") for r in failing}
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey(["raw", "stripe_balance_transactions"]) in materialized  # written, then checked
    assert dg.AssetKey(["marts", "revenue_daily"]) not in materialized        # blocked downstream
    assert not (tmp_path / "home" / "warehouse.duckdb").exists()               # the mart never even connected
