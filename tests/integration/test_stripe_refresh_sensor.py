"""The events-refresh sensor re-ingests older days whose objects changed, and refuses to skip a gap."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from assets.resources import LakeResource, StripeSourceResource
from cashbook.replay import ReplayServer
from cashbook.replay.synth import write_synthetic_export
from pipelines.stripe_refresh import stripe_events_refresh

TODAY = dt.datetime.now(dt.UTC).date()
START = TODAY - dt.timedelta(days=20)


def _resources(lake_dir: Path, **stripe: object) -> dict[str, object]:
    """The sensor's configuration, as the code location builds it (pipelines/definitions.py)."""
    return {"stripe": StripeSourceResource(**stripe), "lake": LakeResource(lake_dir=str(lake_dir))}


@pytest.fixture()
def api_resources(tmp_path: Path) -> Iterator[dict[str, object]]:
    """The Stripe resource pointed at a replay server of a synthetic account whose charges are 20 days old."""
    write_synthetic_export(tmp_path / "export", balance_transactions=300, days=2, start=START, seed=5)
    with ReplayServer(tmp_path / "export") as server:
        yield _resources(tmp_path / "lake", source="api", api_key="sk_test_refresh", api_base=server.url)


def test_export_source_skips(tmp_path: Path) -> None:
    with dg.build_sensor_context(resources=_resources(tmp_path, source="export")) as ctx:
        result = stripe_events_refresh(ctx)
    assert isinstance(result, dg.SkipReason) and "not api" in result.skip_message


def test_changed_old_objects_request_their_days(api_resources: dict[str, object]) -> None:
    with dg.build_sensor_context(cursor=None, resources=api_resources) as first:
        skipped = stripe_events_refresh(first)
    assert isinstance(skipped, dg.SkipReason)  # nothing ingested before: nothing can be stale
    assert first.cursor is not None

    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=25)).isoformat()
    with dg.build_sensor_context(cursor=since, resources=api_resources) as ctx:
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


def test_gap_longer_than_retention_fails_with_backfill_command(api_resources: dict[str, object]) -> None:
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=40)).isoformat()
    with dg.build_sensor_context(cursor=since, resources=api_resources) as ctx, pytest.raises(dg.Failure) as err:
        stripe_events_refresh(ctx)
    assert "dagster asset materialize -m pipelines.definitions --select 'key:\"raw/*\"' --partition-range" in str(
        err.value.description)
