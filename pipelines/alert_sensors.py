"""Alert sensors: evaluate thresholds when the results they read are (re)published, page on breaches.

Results-driven rules run after their assets materialize (multi-asset sensor on analytics/* and the raw
balance transactions), clock-driven rules (staleness, the last hour of webhooks) every five minutes, and
run failures through Dagster's run-status sensors. All evaluation and paging lives in cashbook.alerts.
"""

import dagster as dg

from assets.resources import LakeResource, PostgresResource
from cashbook.alerts.config import load_alerts_config
from cashbook.alerts.engine import evaluate_and_page, record_run_status
from cashbook.alerts.sinks import sinks_from_config

RESULT_RULES = ["payment_success_rate", "customer_churn", "open_discrepancies_count", "open_discrepancies_amount",
                "payout_mismatch", "stripe_data_stale"]
CLOCK_RULES = ["stripe_data_stale", "webhook_error_rate", "manual_review_backlog", "payment_manual_review"]

MONITORED = dg.AssetSelection.key_prefixes(["analytics"]) | dg.AssetSelection.assets(
    dg.AssetKey(["raw", "stripe_balance_transactions"]))


def _evaluate(postgres: PostgresResource, lake: LakeResource, rules: list[str]) -> str:
    config = load_alerts_config()
    report = evaluate_and_page(postgres.url(), lake.path, config, sinks_from_config(config), rules=rules)
    return report.summary()


@dg.multi_asset_sensor(
    monitored_assets=MONITORED,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="After analytics/* or raw balance transactions materialize: evaluate thresholds and page.",
)
def threshold_alerts(context: dg.MultiAssetSensorEvaluationContext, postgres: PostgresResource,
                     lake: LakeResource):
    latest = context.latest_materialization_records_by_key()
    if not any(latest.values()):
        return dg.SkipReason("no new materializations of monitored assets")
    summary = _evaluate(postgres, lake, RESULT_RULES)
    context.advance_all_cursors()
    context.log.info(summary)
    return dg.SkipReason(f"alerts evaluated: {summary}")


@dg.sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=300,
    description="Every 5 minutes: Stripe data staleness, webhook error rate (last hour), manual-review backlog.",
)
def clock_alerts(context: dg.SensorEvaluationContext, postgres: PostgresResource, lake: LakeResource):
    summary = _evaluate(postgres, lake, CLOCK_RULES)
    context.log.info(summary)
    return dg.SkipReason(f"alerts evaluated: {summary}")


def _run_url(run_id: str) -> str:
    return load_alerts_config().dagster_ui_url.rstrip("/") + f"/runs/{run_id}"


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING, description="Page on any failed run.")
def run_failure_alerts(context: dg.RunFailureSensorContext, postgres: PostgresResource) -> None:
    config = load_alerts_config()
    run = context.dagster_run
    record_run_status(postgres.url(), config, sinks_from_config(config), job=run.job_name, failed=True,
                      run_url=_run_url(run.run_id), error=context.failure_event.message or "")


@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, default_status=dg.DefaultSensorStatus.RUNNING,
                      description="Resolve a job's failure alert when it next succeeds.")
def run_success_resolves(context: dg.RunStatusSensorContext, postgres: PostgresResource) -> None:
    config = load_alerts_config()
    run = context.dagster_run
    record_run_status(postgres.url(), config, sinks_from_config(config), job=run.job_name, failed=False,
                      run_url=_run_url(run.run_id))


alert_sensors = [threshold_alerts, clock_alerts, run_failure_alerts, run_success_resolves]
