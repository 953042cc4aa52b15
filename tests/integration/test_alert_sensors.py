"""Alert sensors driven through Dagster's build_* contexts against real Postgres."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import psycopg
import pytest

from assets.resources import LakeResource, PostgresResource
from cashbook.db.migrate import migrate
from cashbook.discrepancy_lifecycle import publish_discrepancies
from pipelines.alert_sensors import run_failure_alerts, threshold_alerts
from tests.discrepancy_rows import discrepancy, discrepancy_table

KEY = dg.AssetKey(["analytics", "discrepancies"])


@dg.asset(key=KEY)
def _published() -> None:
    return None


@pytest.fixture()
def postgres(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> PostgresResource:
    for var in ("PAGERDUTY_ROUTING_KEY", "SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(var, raising=False)  # the log sink only
    migrate(pg_url)
    row = discrepancy("d1", "payout_mismatch", stripe_amount=100, stripe_balance_transaction_id=None,
                      stripe_object_id=None, ledger_entry_id=None, payout_id="po_1", currency="eur", detail="x")
    publish_discrepancies(pg_url, discrepancy_table([row]), run_id="r")
    return PostgresResource(database_url=pg_url)


def _alerts(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT rule, scope, status, paged_at IS NOT NULL FROM analytics.alerts ORDER BY 1, 2").fetchall()


def test_threshold_sensor_waits_for_a_materialization_then_pages(postgres: PostgresResource, tmp_path: Path) -> None:
    lake = LakeResource(lake_dir=str(tmp_path / "lake"))  # empty: staleness has nothing to judge
    instance = dg.DagsterInstance.ephemeral()
    defs = dg.Definitions(assets=[_published])
    ctx = dg.build_multi_asset_sensor_context(monitored_assets=[KEY], instance=instance, definitions=defs,
                                              resources={"postgres": postgres, "lake": lake})
    result = threshold_alerts(ctx)
    assert isinstance(result, dg.SkipReason) and "no new materializations" in result.skip_message
    assert _alerts(postgres.database_url) == []

    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=KEY))
    ctx = dg.build_multi_asset_sensor_context(monitored_assets=[KEY], instance=instance, definitions=defs,
                                              resources={"postgres": postgres, "lake": lake})
    result = threshold_alerts(ctx)
    assert "opened 1" in result.skip_message
    assert ("payout_mismatch", "po_1", "open", True) in _alerts(postgres.database_url)
    assert threshold_alerts.default_status == dg.DefaultSensorStatus.RUNNING


def test_run_failure_sensor_records_and_pages(postgres: PostgresResource) -> None:
    @dg.asset
    def boom() -> None:
        raise RuntimeError("kaboom")

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([boom], instance=instance, raise_on_error=False)
    run = instance.get_run_by_id(result.run_id)
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    ctx = dg.build_run_status_sensor_context(
        sensor_name=run_failure_alerts.name, dagster_instance=instance, dagster_run=run, dagster_event=failure,
        resources={"postgres": postgres},
    ).for_run_failure()
    run_failure_alerts(ctx)
    assert (("pipeline_run_failed", run.job_name, "open", True)) in _alerts(postgres.database_url)
