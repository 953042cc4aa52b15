"""Late Stripe changes older than the schedule's lookback: the events stream names them, we re-ingest their days.

Only for STRIPE_SOURCE=api (an export directory has no event stream to follow). The cursor is the end of the
last window of events read; a gap longer than Stripe's 30-day event retention fails the tick with the exact
backfill command (EventGapError), so it is never skipped silently.
"""

import datetime as dt

import dagster as dg

from assets.resources import LakeResource, StripeSourceResource
from cashbook.sources.stripe_refresh import EventGapError, plan_refresh
from pipelines.jobs import raw_job


@dg.sensor(
    job=raw_job,
    minimum_interval_seconds=6 * 3600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 6 h (API source): re-ingest older days whose Stripe objects changed, per /v1/events.",
)
def stripe_events_refresh(context: dg.SensorEvaluationContext, stripe: StripeSourceResource, lake: LakeResource):
    if stripe.source != "api" or not stripe.api_key:
        return dg.SkipReason("STRIPE_SOURCE is not api: late changes come with the next export")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    since = dt.datetime.fromisoformat(context.cursor) if context.cursor else None
    try:
        plan = plan_refresh(stripe.api_client(), since, now, run_day=now.date(), lookback_days=stripe.lookback_days,
                            earliest=lake.first_day)
    except EventGapError as exc:
        raise dg.Failure(description=str(exc)) from exc
    context.update_cursor(now.isoformat())
    days = plan.all_days()
    if not days:
        return dg.SkipReason(f"{plan.events_seen} events since {since}; nothing older than the lookback changed")
    return [
        dg.RunRequest(run_key=f"refresh-{first.isoformat()}-{last.isoformat()}-{now.isoformat()}",
                      tags={"dagster/asset_partition_range_start": first.isoformat(),
                            "dagster/asset_partition_range_end": last.isoformat(),
                            "cashbook/reason": "stripe-events-refresh"})
        for first, last in contiguous_ranges(days)
    ]


def contiguous_ranges(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """[d1, d2, d3, d7] → [(d1, d3), (d7, d7)]: one single-run backfill per stretch of consecutive days."""
    ranges: list[tuple[dt.date, dt.date]] = []
    for day in sorted(set(days)):
        if ranges and day == ranges[-1][1] + dt.timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges
