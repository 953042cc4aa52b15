"""The code location loads, keys follow the layer/table convention, and the schedule/sensor behave."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pyarrow as pa

from assets.resources import LakeResource, StripeSourceResource, WarehouseResource
from assets.warehouse.staging import RAW_KEYS
from cashbook.settings import get_settings, load_settings
from pipelines.definitions import build_definitions, build_resources, defs
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


def _schedule_resources(partition_start: str = "2025-01-01", lookback_days: int = 7) -> dict[str, object]:
    return {"lake": LakeResource(lake_dir="unused", partition_start=partition_start),
            "stripe": StripeSourceResource(lookback_days=lookback_days)}


def test_schedule_runs_yesterday_plus_lookback_as_one_range_run() -> None:
    assert daily_raw_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    at = dt.datetime(2025, 6, 10, 2, 0, tzinfo=dt.UTC)
    with dg.build_schedule_context(scheduled_execution_time=at, resources=_schedule_resources()) as ctx:
        request = daily_raw_schedule(ctx)
    assert request.tags["dagster/asset_partition_range_start"] == "2025-06-02"
    assert request.tags["dagster/asset_partition_range_end"] == "2025-06-09"
    assert request.run_key == "raw-2025-06-09"
    # Configured through its resources: another first partition and lookback, no settings involved.
    with dg.build_schedule_context(scheduled_execution_time=at,
                                   resources=_schedule_resources("2025-06-05", 2)) as ctx:
        request = daily_raw_schedule(ctx)
    assert request.tags["dagster/asset_partition_range_start"] == "2025-06-07"
    with dg.build_schedule_context(scheduled_execution_time=at,
                                   resources=_schedule_resources("2025-06-08", 7)) as ctx:
        request = daily_raw_schedule(ctx)
    assert request.tags["dagster/asset_partition_range_start"] == "2025-06-08"


def test_partition_start_is_configured_by_the_code_location(tmp_path: Path) -> None:
    configured = build_definitions(load_settings(cashbook_home=tmp_path, partition_start=dt.date(2024, 3, 1)))
    graph = configured.resolve_asset_graph()
    for key in (k for k in graph.get_all_asset_keys() if k.path[0] == "raw"):
        assert graph.get(key).partitions_def.get_first_partition_key() == "2024-03-01", key
    assert configured.resolve_job_def(raw_job.name).partitions_def.get_first_partition_key() == "2024-03-01"
    default = get_settings().partition_start.isoformat()  # what `defs` was built from
    assert defs.resolve_job_def(raw_job.name).partitions_def.get_first_partition_key() == default


BT = dg.AssetKey(["raw", "stripe_balance_transactions"])


def _landed(instance: dg.DagsterInstance, *, check_passes: bool) -> str:
    """A stand-in run that materializes raw balance transactions, then runs a blocking check."""

    @dg.asset(key=BT)
    def bts() -> None:
        return None

    @dg.asset_check(asset=BT, blocking=True)
    def quality() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=check_passes)

    return dg.materialize([bts, quality], instance=instance, raise_on_error=False).run_id


def _tick(instance: dg.DagsterInstance, cursor: str | None = None):
    ctx = dg.build_multi_asset_sensor_context(monitored_assets=RAW_KEYS, instance=instance,
                                              definitions=defs, cursor=cursor)
    return warehouse_after_raw(ctx), ctx


def test_warehouse_sensor_rebuilds_after_a_successful_raw_run_only() -> None:
    assert warehouse_after_raw.default_status == dg.DefaultSensorStatus.RUNNING
    instance = dg.DagsterInstance.ephemeral()
    result, _ = _tick(instance)
    assert isinstance(result, dg.SkipReason) and "no new raw materializations" in result.skip_message

    bad = _landed(instance, check_passes=False)  # the blocking check failed: the run failed
    result, ctx = _tick(instance)
    assert isinstance(result, dg.SkipReason) and "failed runs" in result.skip_message

    good = _landed(instance, check_passes=True)
    result, ctx = _tick(instance, ctx.cursor)
    assert isinstance(result, dg.RunRequest) and result.run_key == f"warehouse-after-{good}"
    assert bad != good
    result, _ = _tick(instance, ctx.cursor)  # cursors advanced: nothing new, no second rebuild
    assert isinstance(result, dg.SkipReason)


def test_demo_window_ends_today_and_respects_first_partition() -> None:
    from cashbook.cli.commands_pipeline import demo_window

    assert demo_window(dt.date(2026, 11, 26), 12, dt.date(2025, 1, 1)) == (dt.date(2025, 11, 26), 12)
    assert demo_window(dt.date(2026, 3, 31), 1, dt.date(2025, 1, 1)) == (dt.date(2026, 2, 28), 1)
    assert demo_window(dt.date(2025, 6, 1), 12, dt.date(2025, 1, 1)) == (dt.date(2025, 1, 1), 5)


def test_demo_rerun_rewrites_lake_days_before_its_new_start(tmp_path: Path) -> None:
    """A demo rerun on a later day must rewrite (empty) the days the earlier history landed, or ids repeat."""
    from cashbook.cli.commands_pipeline import ingest_start
    from cashbook.lake import write_partition

    lake = tmp_path / "lake"
    start = dt.date(2025, 11, 27)
    assert ingest_start(lake, start) == start  # nothing landed yet
    write_partition(lake, "charges", dt.date(2025, 11, 26), pa.table({"id": ["ch_1"]}))
    write_partition(lake, "ledger_entries", dt.date(2025, 11, 25), pa.table({"entry_id": ["le_1"]}))
    assert ingest_start(lake, start) == dt.date(2025, 11, 25)
    assert ingest_start(lake, dt.date(2025, 11, 1)) == dt.date(2025, 11, 1)  # a longer history covers them


def test_runs_execute_in_process_by_default_and_multiprocess_stays_selectable() -> None:
    from dagster._core.system_config.objects import ResolvedRunConfig

    ops = {"ops": {"reconciliation": {"config": {"as_of": "2025-01-01T00:00:00+00:00"}}}}
    for job in (defs.resolve_job_def(warehouse_job.name), defs.resolve_implicit_global_asset_job_def()):
        for run_config in ({}, ops):  # the sensor sends none; the demo and the Launchpad send op config
            engine = ResolvedRunConfig.build(job, run_config).execution.execution_engine_config
            assert "in_process" in engine, (job.name, run_config, engine)
        chosen = ResolvedRunConfig.build(job, {"execution": {"config": {"multiprocess": {}}}})
        assert "multiprocess" in chosen.execution.execution_engine_config


def test_warehouse_subsets_resolve_without_refusing_a_multi_asset() -> None:
    graph = defs.resolve_asset_graph()
    selection = dg.AssetSelection.from_string('+key:"marts/mrr_monthly" and not (group:stripe or group:ledger)')
    keys = selection.resolve(graph)
    assert {k.to_user_string() for k in keys} == {
        "staging/stg_invoice_lines", "staging/stg_subscriptions", "marts/mrr_month_spine",
        "marts/mrr_customer_monthly", "marts/mrr_movements", "marts/mrr_monthly"}
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=keys)  # raised before
    assert job.asset_layer.selected_asset_keys == keys


def test_analyst_file_is_republished_after_subset_runs_only() -> None:
    """Declarative automation on analytics/warehouse_duckdb: a run that rebuilt marts without it triggers one
    republish; a full run (which publishes it last) or a failed blocking check does not."""
    from assets.serving.warehouse_duckdb import WAREHOUSE_DUCKDB
    from pipelines.sensors import analyst_warehouse_automation

    assert analyst_warehouse_automation.default_status == dg.DefaultSensorStatus.RUNNING
    graph = defs.resolve_asset_graph()
    deps = sorted(graph.get(WAREHOUSE_DUCKDB).parent_keys, key=lambda k: k.path)
    checks = {k: [c for c in graph.asset_check_keys if c.asset_key == k] for k in deps}
    instance = dg.DagsterInstance.ephemeral()
    cursor = None

    def built(key: dg.AssetKey, passed: bool = True) -> None:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key))
        for check in checks.get(key, []):
            instance.report_runless_asset_event(dg.AssetCheckEvaluation(
                asset_key=key, check_name=check.name, passed=passed, severity=dg.AssetCheckSeverity.ERROR))

    def requested() -> int:
        nonlocal cursor
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor,
                                                   asset_selection=dg.AssetSelection.assets(WAREHOUSE_DUCKDB))
        cursor = result.cursor
        return result.total_requested

    assert requested() == 0                      # nothing built yet
    for key in deps:                             # a full warehouse run: everything, then the file
        built(key)
    built(WAREHOUSE_DUCKDB)
    assert requested() == 0
    built(dg.AssetKey(["marts", "mrr_monthly"]))  # one mart rebuilt from the UI
    assert requested() == 1
    assert requested() == 0                      # requested once, not on every tick
    built(WAREHOUSE_DUCKDB)
    built(dg.AssetKey(["marts", "mrr_monthly"]), passed=False)  # its blocking check failed
    assert requested() == 0


def test_resources_carry_the_run_parameters_assets_and_sensors_read(tmp_path: Path) -> None:
    """Grace days, FX, lake path, first partition, lookback: from settings into resources, nowhere else."""
    settings = load_settings(cashbook_home=tmp_path, reconcile_grace_days=5, reporting_currency="EUR",
                             exchange_rates_csv=tmp_path / "rates.csv", partition_start=dt.date(2024, 3, 1),
                             stripe_lookback_days=2, freshness_max_age_hours=12)
    resources = build_resources(settings)
    warehouse = resources["warehouse"]
    assert isinstance(warehouse, WarehouseResource)
    run = warehouse.settings()
    assert (run.reconcile_grace_days, run.reporting_currency, run.exchange_rates_csv) == (
        5, "eur", tmp_path / "rates.csv")
    lake, stripe = resources["lake"], resources["stripe"]
    assert isinstance(lake, LakeResource) and isinstance(stripe, StripeSourceResource)
    assert (lake.path, lake.first_day, lake.freshness_max_age_hours) == (
        settings.lake_dir, dt.date(2024, 3, 1), 12)
    assert stripe.lookback_days == 2
    # Built without settings, a resource behaves like a fresh clone (the settings' own defaults).
    assert WarehouseResource(cashbook_home=str(tmp_path)).settings().reconcile_grace_days == 3
    assert LakeResource(lake_dir="x").first_day == dt.date(2025, 1, 1)
