"""The daily schedule: yesterday's partition plus a lookback, so late Stripe changes are re-ingested."""


import datetime as dt

import dagster as dg

from assets.partitions import daily_partitions_from
from assets.resources import LakeResource, StripeSourceResource
from pipelines.jobs import raw_job


def lookback_range(scheduled: dt.datetime, lookback_days: int, first: dt.date) -> tuple[str, str]:
    """[yesterday − lookback, yesterday], clipped to the first partition."""
    yesterday = scheduled.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    start = max(first, yesterday - dt.timedelta(days=lookback_days))
    return start.isoformat(), yesterday.isoformat()


@dg.schedule(
    job=raw_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="02:00 UTC: ingest yesterday and re-ingest the lookback window in one run.",
)
def daily_raw_schedule(context: dg.ScheduleEvaluationContext, lake: LakeResource,
                       stripe: StripeSourceResource) -> dg.RunRequest:
    start, end = lookback_range(context.scheduled_execution_time, stripe.lookback_days, lake.first_day)
    # Partition keys must exist in the definition; a range is one run thanks to single-run backfill.
    keys = daily_partitions_from(lake.first_day).get_partition_keys()
    if end not in keys:
        end = keys[-1]
    return dg.RunRequest(
        run_key=f"raw-{end}",
        tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
    )
