"""The one partitioning scheme: UTC days of the Stripe `created` time (ledger: `occurred_at`)."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from cashbook.settings import get_settings

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=get_settings().partition_start.isoformat(), timezone="UTC", end_offset=0
)


def window_days(context: dg.AssetExecutionContext) -> tuple[dt.datetime, dt.datetime, list[dt.date]]:
    """The run's window [start, end) and its days; a single-run backfill covers many days at once."""
    window = context.partition_time_window
    start = window.start.astimezone(dt.UTC)
    end = window.end.astimezone(dt.UTC)
    days = []
    d = start.date()
    while d < end.date():
        days.append(d)
        d += dt.timedelta(days=1)
    return start, end, days
