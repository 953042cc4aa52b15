"""Freshness by data time, and the partition window a check reads from run tags."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from assets.checks.common import days_from_tags
from cashbook.lake import write_partition
from cashbook.quality.freshness import freshness, max_age_hours
from cashbook.quality.partitions import window_parameters
from cashbook.settings import SettingsError
from cashbook.sources.streams import lake_schema
from tests.unit.test_marts_support import Account, ts

MAX_AGE_ENV = "FRESHNESS_MAX_AGE_HOURS"


def _land(lake: Path, day: str, created: list[str]) -> None:
    a = Account()
    for c in created:
        a.bt(c, 100, 3, "charge")
    table = a.tables()["stripe_balance_transactions"] if created else lake_schema(
        "stripe_balance_transactions").empty_table()
    write_partition(lake, "stripe_balance_transactions", dt.date.fromisoformat(day), table)


def test_freshness_uses_the_newest_created_not_the_run_time(tmp_path: Path) -> None:
    _land(tmp_path, "2025-03-01", ["2025-03-01T08:00:00", "2025-03-01T20:00:00"])
    _land(tmp_path, "2025-03-02", [])  # an empty newer day: materialized, nothing happened
    now = dt.datetime(2025, 3, 3, 6, 0, tzinfo=dt.UTC)
    f = freshness(tmp_path, now=now, max_age=36)
    assert f.newest == dt.datetime(2025, 3, 1, 20, 0, tzinfo=dt.UTC)
    assert f.age_hours == pytest.approx(34.0) and f.fresh
    assert not freshness(tmp_path, now=now + dt.timedelta(hours=3), max_age=36).fresh
    assert not freshness(tmp_path / "nothing", now=now, max_age=36).fresh


def test_max_age_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAX_AGE_ENV, raising=False)
    assert max_age_hours() == 36.0
    monkeypatch.setenv(MAX_AGE_ENV, "12")
    assert max_age_hours() == 12.0
    monkeypatch.setenv(MAX_AGE_ENV, "soon")
    with pytest.raises(SettingsError, match=MAX_AGE_ENV):
        max_age_hours()


def test_days_from_run_tags() -> None:
    assert days_from_tags({"dagster/partition": "2025-03-01"}) == [dt.date(2025, 3, 1)]
    assert days_from_tags({"dagster/asset_partition_range_start": "2025-02-27",
                           "dagster/asset_partition_range_end": "2025-03-01"}) == [
        dt.date(2025, 2, 27), dt.date(2025, 2, 28), dt.date(2025, 3, 1)]
    assert days_from_tags({}) is None


def test_window_parameters_are_inclusive_seconds() -> None:
    p = window_parameters([dt.date(2025, 3, 2), dt.date(2025, 3, 1)])
    assert p == {"window_start": ts("2025-03-01T00:00:00"), "window_last": ts("2025-03-03T00:00:00") - 1}
