"""Calendar arithmetic in UTC Unix seconds, and ledger timestamps with offsets.

Billing periods follow Stripe's anchor rule: period n ends n months (or years) after the anchor,
the day clamped to the month's length, same time of day.
"""

from __future__ import annotations

import calendar
import datetime as dt

DAY = 86_400


def ts(d: dt.datetime) -> int:
    return int(d.timestamp())


def from_ts(t: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, tz=dt.UTC)


def add_months(anchor: int, months: int) -> int:
    """`anchor` + `months` calendar months, day clamped (Jan 31 + 1 month = Feb 28/29)."""
    d = from_ts(anchor)
    total = d.month - 1 + months
    year, month = d.year + total // 12, total % 12 + 1
    day = min(d.day, calendar.monthrange(year, month)[1])
    return ts(d.replace(year=year, month=month, day=day))


def month_starts(start: dt.date, months: int) -> list[int]:
    """Unix seconds of the first instant of each simulated month, plus the end (months + 1 values)."""
    base = ts(dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC))
    return [add_months(base, i) for i in range(months + 1)]


def calendar_month_last_second(t: int) -> int:
    """The last second (UTC) of the calendar month containing `t`: where month-end MRR is measured."""
    d = from_ts(t)
    first = dt.datetime(d.year, d.month, 1, tzinfo=dt.UTC)
    return add_months(ts(first), 1) - 1


def month_label(t: int) -> str:
    return from_ts(t).strftime("%Y-%m")


def day_floor(t: int) -> int:
    return t - t % DAY


def iso_utc(t: int) -> str:
    return from_ts(t).isoformat()


def iso_with_offset(t: int, offset_seconds: int) -> str:
    """The same instant written in another offset (ledger systems record local time with offset)."""
    tz = dt.timezone(dt.timedelta(seconds=offset_seconds))
    return dt.datetime.fromtimestamp(t, tz=tz).isoformat()
