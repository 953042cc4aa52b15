"""The warehouse rebuilds after raw data lands, whichever way it landed (schedule, UI, CLI backfill)."""

import dagster as dg

from assets.serving.warehouse_duckdb import WAREHOUSE_DUCKDB
from assets.warehouse.staging import RAW_KEYS
from pipelines.jobs import warehouse_job

_DONE_OK = {dg.DagsterRunStatus.SUCCESS}
_DONE_BAD = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@dg.multi_asset_sensor(
    monitored_assets=RAW_KEYS,
    job=warehouse_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="After raw assets materialize in a run that succeeded (its blocking data-quality checks passed), "
    "rebuild staging, reconciliation and marts once.",
)
def warehouse_after_raw(context: dg.MultiAssetSensorEvaluationContext):
    latest = {k: r for k, r in context.latest_materialization_records_by_key().items() if r is not None}
    if not latest:
        return dg.SkipReason("no new raw materializations")
    runs = {r.run_id: context.instance.get_run_by_id(r.run_id) for r in latest.values()}
    pending = [rid for rid, run in runs.items() if run is not None and run.status not in _DONE_OK | _DONE_BAD]
    if pending:  # cursors stay put: decide when the run has finished and its checks have spoken
        return dg.SkipReason(f"waiting for run(s) {', '.join(sorted(pending))} to finish")
    good = sorted(rid for rid, run in runs.items() if run is not None and run.status in _DONE_OK)
    context.advance_all_cursors()
    if not good:
        return dg.SkipReason("raw data landed only in failed runs (blocking checks): the warehouse is not rebuilt")
    return dg.RunRequest(run_key="warehouse-after-" + "-".join(good)[:200])


# Evaluates the analysts' warehouse file's automation condition (republish after a run that rebuilt some marts
# but not the file itself, e.g. one mart selected in the UI). Dagster's own default automation sensor starts
# stopped; this one targets only that asset and runs by default, like the product's other sensors.
analyst_warehouse_automation = dg.AutomationConditionSensorDefinition(
    "analyst_warehouse_automation",
    target=dg.AssetSelection.assets(WAREHOUSE_DUCKDB),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Republish $CASHBOOK_HOME/warehouse.duckdb after runs that rebuilt marts without publishing it.",
)
