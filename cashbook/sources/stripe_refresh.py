"""Late changes: which already-ingested day partitions must be read again.

Two mechanisms, because Stripe has no `updated` filter (NOTES §1, §4):
- a trailing lookback: every scheduled run re-reads its day and the `stripe_lookback_days` before it
  (the daily schedule's partition range), which catches BT `status` flips, refunds, paid
  invoices and everything else that settles within a week;
- an events-based refresher for older objects: `/v1/events` (kept 30 days) names every object that
  changed; the days those objects were *created* on, if older than the lookback, are re-ingested.

If the refresher has not run for longer than the event retention, some changes can no longer be
seen. That is never skipped silently: `EventGapError` says so and gives the exact backfill command.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cashbook.sources.errors import SourceError
from cashbook.sources.registry import EVENT_OBJECT_STREAMS
from cashbook.sources.streams import utc_day
from cashbook.sources.stripe_api import StripeApiSource

EVENT_RETENTION_DAYS = 30

def backfill_command(first: dt.date, last: dt.date) -> str:
    """The Dagster command that re-materializes the raw partitions [first, last]."""
    return (f"dagster asset materialize -m pipelines.definitions --select 'key:\"raw/*\"' "
            f"--partition-range {first.isoformat()}...{last.isoformat()}")


class EventGapError(SourceError):
    """The previous refresh is older than Stripe's event retention: changes may have been missed."""

    def __init__(self, since: dt.datetime, until: dt.datetime, first: dt.date, last: dt.date) -> None:
        self.first, self.last = first, last
        self.command = backfill_command(first, last)
        super().__init__(
            "GET /v1/events",
            f"the last event refresh ended {since.isoformat()}, {(until - since).days} days before "
            f"{until.isoformat()}; Stripe keeps events for {EVENT_RETENTION_DAYS} days, so later changes to "
            f"objects created {first}…{last} may be missing. Re-ingest them with: {self.command}",
        )


@dataclass
class RefreshPlan:
    """Days outside the lookback to re-ingest, per stream, and the window of events it covers."""

    since: dt.datetime
    until: dt.datetime
    days: dict[str, list[dt.date]] = field(default_factory=dict)
    events_seen: int = 0
    unknown_objects: dict[str, int] = field(default_factory=dict)

    def all_days(self) -> list[dt.date]:
        return sorted({d for ds in self.days.values() for d in ds})


def check_event_gap(since: dt.datetime, until: dt.datetime, *, run_day: dt.date, lookback_days: int,
                    earliest: dt.date) -> None:
    """Raise EventGapError when events between `since` and the retention floor are gone.

    Days inside the lookback are re-read anyway, so only [earliest, run_day - lookback - 1] can be
    affected; an empty range means there is nothing to backfill.
    """
    if until - since <= dt.timedelta(days=EVENT_RETENTION_DAYS):
        return
    last = run_day - dt.timedelta(days=lookback_days + 1)
    if last < earliest:
        return
    raise EventGapError(since, until, earliest, last)


def plan_refresh(source: StripeApiSource, since: dt.datetime | None, until: dt.datetime, *,
                 run_day: dt.date, lookback_days: int, earliest: dt.date) -> RefreshPlan:
    """Read events in [since, until) and list the older partitions whose objects changed.

    `since` is the `until` of the previous successful refresh (kept by the caller, e.g. as Dagster
    asset metadata); None means nothing was ingested before, so nothing can be stale.
    """
    if since is None:
        return RefreshPlan(until, until)
    check_event_gap(since, until, run_day=run_day, lookback_days=lookback_days, earliest=earliest)
    horizon = run_day - dt.timedelta(days=lookback_days)
    plan = RefreshPlan(since, until)
    days: dict[str, set[dt.date]] = {}
    for event in source.list_objects("events", since, until):
        plan.events_seen += 1
        obj = (event.get("data") or {}).get("object") or {}
        kind = str(obj.get("object"))
        stream = EVENT_OBJECT_STREAMS.get(kind)
        created = obj.get("created")
        if stream is None or not isinstance(created, int):
            plan.unknown_objects[kind] = plan.unknown_objects.get(kind, 0) + 1
            continue
        day = utc_day(created)
        if earliest <= day < horizon:
            days.setdefault(stream, set()).add(day)
    plan.days = {s: sorted(d) for s, d in sorted(days.items())}
    return plan
