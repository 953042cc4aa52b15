"""The code location loads, keys follow the layer/table convention, and the schedule/sensor behave."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from pipelines.definitions import defs
from pipelines.jobs import raw_job, warehouse_job
from pipelines.schedules import daily_raw_schedule, lookback_range
from pipelines.sensors import warehouse_after_raw

LAYERS = {"raw", "staging", "marts", "analytics"}


def test_asset_keys_are_lower_case_and_prefixed_by_schema() -> None:
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    assert {dg.AssetKey(["raw", "stripe_balance_transactions"]), dg.AssetKey(["raw", "ledger_entries"]),
            dg.AssetKey(["marts", "discrepancies"]), dg.AssetKey(["analytics", "discrepancies"])} <= keys
    for key in keys:
        assert key.path[0] in LAYERS, key
        assert all(part == part.lower() for part in key.path), key


def test_raw_assets_are_daily_partitioned_with_single_run_backfill() -> None:
    graph = defs.resolve_asset_graph()
    raw = [k for k in graph.get_all_asset_keys() if k.path[0] == "raw"]
    assert len(raw) == 10
    for key in raw:
        node = graph.get(key)
        assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition)
        assert node.partitions_def.timezone == "UTC"
        assert node.backfill_policy == dg.BackfillPolicy.single_run()


def test_jobs_resolve() -> None:
    assert defs.resolve_job_def(raw_job.name)
    assert defs.resolve_job_def(warehouse_job.name)


def test_lookback_range_clips_to_first_partition() -> None:
    at = dt.datetime(2025, 6, 10, 2, 0, tzinfo=dt.UTC)
    assert lookback_range(at, 7, dt.date(2025, 1, 1)) == ("2025-06-02", "2025-06-09")
    assert lookback_range(at, 7, dt.date(2025, 6, 5)) == ("2025-06-05", "2025-06-09")


def test_schedule_runs_yesterday_plus_lookback_as_one_range_run() -> None:
    assert daily_raw_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    ctx = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2025, 6, 10, 2, 0, tzinfo=dt.UTC))
    request = daily_raw_schedule(ctx)
    assert request.tags["dagster/asset_partition_range_start"] == "2025-06-02"
    assert request.tags["dagster/asset_partition_range_end"] == "2025-06-09"
    assert request.run_key == "raw-2025-06-09"


def test_warehouse_sensor_requests_a_rebuild_after_raw_success() -> None:
    assert warehouse_after_raw.default_status == dg.DefaultSensorStatus.RUNNING
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([_noop], instance=instance)
    run = instance.get_run_by_id(result.run_id)
    ctx = dg.build_run_status_sensor_context(
        sensor_name=warehouse_after_raw.name, dagster_instance=instance, dagster_run=run,
        dagster_event=result.get_run_success_event(),
    )
    request = warehouse_after_raw(ctx)
    assert request.run_key == f"warehouse-after-{run.run_id}"


@dg.asset
def _noop() -> None:
    return None


def test_demo_window_ends_today_and_respects_first_partition() -> None:
    from cashbook.cli.commands_pipeline import demo_window

    assert demo_window(dt.date(2026, 11, 26), 12, dt.date(2025, 1, 1)) == (dt.date(2025, 11, 26), 12)
    assert demo_window(dt.date(2026, 3, 31), 1, dt.date(2025, 1, 1)) == (dt.date(2026, 2, 28), 1)
    assert demo_window(dt.date(2025, 6, 1), 12, dt.date(2025, 1, 1)) == (dt.date(2025, 1, 1), 5)
