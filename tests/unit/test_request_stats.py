"""Pure parts of the analytics API: request-stat buckets and percentiles, failure-code merging, cursors."""

from __future__ import annotations

import datetime as dt

import pytest

from api.problems import Problem
from api.request_stats import BOUNDS_MS, RequestStats, bucket_index, fields_for, percentile
from api.services.analytics import decode_cursor, encode_cursor, merge_failure_codes


def test_fields_classify_errors_and_stripe_failures() -> None:
    assert fields_for("/api/admin/alerts", 200, 3.0) == {"n": 1, "h2": 1}
    assert fields_for("/api/admin/alerts", 404, 0.5) == {"n": 1, "h0": 1, "e4": 1}
    assert fields_for("/api/billing/purchase-resume", 502, 120) == {"n": 1, "h9": 1, "e5": 1, "bn": 1, "be": 1}
    assert fields_for("/api/billing/plans", 200, 99999) == {"n": 1, f"h{len(BOUNDS_MS)}": 1, "bn": 1}
    assert bucket_index(100) == BOUNDS_MS.index(100) and bucket_index(100.1) == BOUNDS_MS.index(150)


def test_percentile_is_the_upper_bound_of_the_rank_bucket() -> None:
    hist = {bucket_index(3): 90, bucket_index(40): 9, bucket_index(400): 1}
    assert percentile(hist, 100, 0.5) == 5
    assert percentile(hist, 100, 0.95) == 50
    assert percentile(hist, 100, 0.99) == 50
    assert percentile(hist, 100, 1.0) == 500
    assert percentile({}, 0, 0.95) is None


def test_local_windows_sum_minutes() -> None:
    stats = RequestStats(None)
    now = 1_000_000 * 60 + 30.0
    stats.record("/x", 200, 2, now=now)
    stats.record("/x", 500, 2, now=now - 60 * 10)  # outside the 5-minute window, inside the hour
    (w5, w60), source = stats.windows((5, 60), now=now)
    assert source == "process"
    assert (w5.requests, w5.server_errors, w60.requests, w60.server_errors) == (1, 0, 2, 1)
    assert w60.as_dict()["error_rate"] == 0.5 and w5.as_dict()["latency_ms"]["p95"] == 2


def test_merge_failure_codes_sums_days_largest_first() -> None:
    days = ['[{"code": "card_declined", "count": 3}, {"code": "expired_card", "count": 1}]',
            '[{"code": "expired_card", "count": 2}, {"code": "incorrect_cvc", "count": 3}]']
    assert merge_failure_codes(days) == [{"code": "card_declined", "count": 3}, {"code": "expired_card", "count": 3},
                                         {"code": "incorrect_cvc", "count": 3}][:3]
    assert merge_failure_codes(None) == []


def test_cursor_round_trip_and_binding() -> None:
    q = {"from": dt.date(2025, 1, 1), "currency": None}
    c = encode_cursor(["2025-01-02", "usd"], q)
    assert decode_cursor(c, q, 2) == ["2025-01-02", "usd"]
    with pytest.raises(Problem) as exc:
        decode_cursor(c, {**q, "currency": "eur"}, 2)
    assert exc.value.status == 400 and exc.value.code == "invalid_cursor"
    with pytest.raises(Problem):
        decode_cursor("!!", q, 2)
