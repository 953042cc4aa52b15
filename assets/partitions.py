"""The one partitioning scheme: UTC days of the Stripe `created` time (ledger: `occurred_at`).

The first day is configuration (PARTITION_START), so it is not read at import: the asset decorators use
`daily_partitions`, which starts on the settings' default day, and the code location (`pipelines/definitions.py`)
moves every daily-partitioned asset to the configured first day with `with_partition_start`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import dagster as dg

from cashbook.settings import Settings

DEFAULT_START: dt.date = Settings.model_fields["partition_start"].default


def daily_partitions_from(start: dt.date) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC", end_offset=0)


daily_partitions = daily_partitions_from(DEFAULT_START)


def with_partition_start(defs: Sequence[Any], start: dt.date) -> list[Any]:
    """`defs` with every asset partitioned by `daily_partitions` moved to days from `start`."""
    if start == DEFAULT_START:
        return list(defs)
    configured = daily_partitions_from(start)

    def move(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.partitions_def == daily_partitions:
            return spec.replace_attributes(partitions_def=configured)
        return spec

    return [d.map_asset_specs(move) if isinstance(d, dg.AssetsDefinition) and d.partitions_def == daily_partitions
            else d for d in defs]


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
