"""Freshness of raw data by its own timestamps (not by when the pipeline last ran).

A pipeline can run every hour and still land nothing new (an expired API key returning empty pages),
so freshness is the age of the newest balance transaction in the lake.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from cashbook.lake import existing_days, partition_path
from cashbook.sources.streams import time_column

DEFAULT_MAX_AGE_HOURS = 36.0


def max_age_hours() -> float:
    """Threshold from the FRESHNESS_MAX_AGE_HOURS setting (default 36 h); a bad value fails with its name."""
    from cashbook.settings import load_settings

    return load_settings().freshness_max_age_hours


@dataclass(frozen=True)
class Freshness:
    table: str
    newest: dt.datetime | None
    now: dt.datetime
    max_age_hours: float

    @property
    def age_hours(self) -> float | None:
        return None if self.newest is None else (self.now - self.newest).total_seconds() / 3600

    @property
    def fresh(self) -> bool:
        age = self.age_hours
        return age is not None and age <= self.max_age_hours


def newest_timestamp(lake_dir: Path, table: str) -> dt.datetime | None:
    """The newest `created` in the lake, reading day files newest first until one has rows."""
    column = time_column(table.removeprefix("stripe_"))
    for day in reversed(existing_days(lake_dir, table)):
        data = pq.read_table(partition_path(lake_dir, table, day), columns=[column])
        if data.num_rows:
            return dt.datetime.fromtimestamp(pc.max(data.column(column)).as_py(), tz=dt.UTC)
    return None


def freshness(lake_dir: Path, table: str = "stripe_balance_transactions", *, now: dt.datetime | None = None,
              max_age: float | None = None) -> Freshness:
    return Freshness(table, newest_timestamp(lake_dir, table), now or dt.datetime.now(dt.UTC),
                     max_age if max_age is not None else max_age_hours())
