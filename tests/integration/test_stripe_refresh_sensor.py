"""The events-refresh sensor re-ingests older days whose objects changed, and refuses to skip a gap."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from cashbook.replay import ReplayServer
from cashbook.replay.synth import write_synthetic_export
from cashbook.settings import get_settings
from pipelines.stripe_refresh import stripe_events_refresh

TODAY = dt.datetime.now(dt.UTC).date()
START = TODAY - dt.timedelta(days=20)


@pytest.fixture()
def api_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_synthetic_export(tmp_path / "export", balance_transactions=300, days=2, start=START, seed=5)
    with ReplayServer(tmp_path / "export") as server:
        monkeypatch.setenv("STRIPE_SOURCE", "api")
        monkeypatch.setenv("STRIPE_API_KEY", "sk_test_refresh")
        monkeypatch.setenv("STRIPE_API_BASE", server.url)
        monkeypatch.setenv("CASHBOOK_HOME", str(tmp_path / "home"))
        get_settings.cache_clear()
        yield server
    get_settings.cache_clear()


def test_export_source_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_SOURCE", "export")
    get_settings.cache_clear()
    try:
        result = stripe_events_refresh(dg.build_sensor_context())
    finally:
        get_settings.cache_clear()
    assert isinstance(result, dg.SkipReason) and "not api" in result.skip_message


def test_changed_old_objects_request_their_days(api_env) -> None:
    first = dg.build_sensor_context(cursor=None)
    skipped = stripe_events_refresh(first)
    assert isinstance(skipped, dg.SkipReason)  # nothing ingested before: nothing can be stale
    assert first.cursor is not None

    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=25)).isoformat()
    ctx = dg.build_sensor_context(cursor=since)
    requests = stripe_events_refresh(ctx)
    # the charges' day, older than the lookback, as one single-run range
    assert [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
            for r in requests] == [(START.isoformat(), START.isoformat())]
    assert requests[0].tags["cashbook/reason"] == "stripe-events-refresh"
    assert dt.datetime.fromisoformat(ctx.cursor) > dt.datetime.fromisoformat(since)


def test_contiguous_days_become_one_range_each() -> None:
    from pipelines.stripe_refresh import contiguous_ranges

    d = dt.date(2025, 3, 1)
    days = [d, d + dt.timedelta(days=2), d + dt.timedelta(days=1), d + dt.timedelta(days=6), d]
    assert contiguous_ranges(days) == [(d, d + dt.timedelta(days=2)), (d + dt.timedelta(days=6),) * 2]


def test_gap_longer_than_retention_fails_with_backfill_command(api_env) -> None:
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=40)).isoformat()
    with pytest.raises(dg.Failure) as err:
        stripe_events_refresh(dg.build_sensor_context(cursor=since))
    assert "dagster asset materialize -m pipelines.definitions --select 'key:\"raw/*\"' --partition-range" in str(
        err.value.description)
