"""StripeApiSource over real HTTP against the replay server: equivalence, retries, limits, errors."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from cashbook.replay import ReplayConfig, ReplayServer
from cashbook.replay.synth import write_synthetic_export
from cashbook.sources.export import read_stream
from cashbook.sources.ratelimit import TokenBucket
from cashbook.sources.registry import STRIPE_STREAMS
from cashbook.sources.streams import time_column, to_row, utc_day
from cashbook.sources.stripe_api import StripeApiError, StripeApiSource, _day_bounds
from cashbook.sources.stripe_refresh import EventGapError, backfill_command, check_event_gap, plan_refresh

START = dt.date(2026, 1, 1)
DAYS = [START + dt.timedelta(days=i) for i in range(4)]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("account")
    write_synthetic_export(d, balance_transactions=2400, days=len(DAYS), start=START, seed=11)
    return d


@pytest.fixture(scope="module")
def server(export_dir: Path) -> Iterator[ReplayServer]:
    with ReplayServer(export_dir) as srv:
        yield srv


def _export_table(export_dir: Path, stream: str) -> pa.Table:
    """The export-directory source's table: the API source must land exactly this."""
    return read_stream(export_dir, stream)


def _per_day(table: pa.Table, stream: str) -> dict[dt.date, tuple[int, str]]:
    out: dict[dt.date, list[dict]] = {}
    for row in table.to_pylist():
        out.setdefault(utc_day(row[time_column(stream)]), []).append(row)
    return {d: _digest(rows) for d, rows in out.items()}


def _digest(rows: list[dict]) -> tuple[int, str]:
    return len(rows), hashlib.sha256(orjson.dumps(rows, option=orjson.OPT_SORT_KEYS)).hexdigest()


@pytest.mark.parametrize("stream", STRIPE_STREAMS)
def test_api_partitions_equal_export_partitions(export_dir: Path, server: ReplayServer, stream: str) -> None:
    src = StripeApiSource("sk_test_eq", server.url, rate_limit=200, max_workers=6)
    api = src.read_days(stream, DAYS)
    expected = {d: v for d, v in _per_day(_export_table(export_dir, stream), stream).items() if d in DAYS}
    got = {d: _digest(t.to_pylist()) for d, t in api.items() if t.num_rows}
    assert got == expected
    assert src.stats.duplicates == 0
    for t in api.values():
        assert t.schema == _export_table(export_dir, stream).schema


def test_big_day_is_split_into_parallel_sub_windows(export_dir: Path, server: ReplayServer) -> None:
    src = StripeApiSource("sk_test_split", server.url, rate_limit=200, max_workers=8, split_min_pages=2)
    day = DAYS[1]
    table = src.read_days("balance_transactions", [day])[day]
    assert src.stats.splits >= 1
    assert src.stats.duplicates == 0
    assert _digest(table.to_pylist()) == _per_day(_export_table(export_dir, "balance_transactions"),
                                                  "balance_transactions")[day]


def test_each_day_is_finished_once_when_its_last_window_is_read(export_dir: Path, server: ReplayServer) -> None:
    """Days are turned into tables as they complete (splits included), not all after the last response."""
    src = StripeApiSource("sk_test_finish", server.url, rate_limit=200, max_workers=3, split_min_pages=2)
    finished: list[tuple[dt.date, int, int]] = []  # (day, objects, pages read so far)
    windows = [src._window("balance_transactions", d, *_day_bounds(d)) for d in DAYS]
    objs = src._run(windows, finish=lambda key, bucket: finished.append((key, len(bucket), src.stats.pages)))
    assert src.stats.splits >= 1
    assert sorted(d for d, _, _ in finished) == DAYS  # every day exactly once
    assert all(n == len(objs[d]) for d, n, _ in finished)  # with all of its objects
    assert finished[0][2] < src.stats.pages  # the first day was done while others were still being read
    tables = src.read_days("balance_transactions", DAYS)
    expected = _per_day(_export_table(export_dir, "balance_transactions"), "balance_transactions")
    assert {d: _digest(t.to_pylist()) for d, t in tables.items()} == {d: expected[d] for d in DAYS}


def test_read_range_spans_days(export_dir: Path, server: ReplayServer) -> None:
    seen: list[int] = []
    src = StripeApiSource("sk_test_rng", server.url, rate_limit=200, progress=lambda st: seen.append(st.objects))
    start = dt.datetime(2026, 1, 2, 12, tzinfo=dt.UTC)
    end = dt.datetime(2026, 1, 3, 6, tzinfo=dt.UTC)
    table = src.read_range("charges", start, end)
    export = _export_table(export_dir, "charges").to_pylist()
    want = sorted(r["id"] for r in export if start.timestamp() <= r["created"] < end.timestamp())
    assert sorted(table.column("id").to_pylist()) == want and want
    assert len(seen) == src.stats.pages and seen[-1] == len(want)  # progress after every page


def test_expanded_read_gives_same_bts_and_their_sources(export_dir: Path, server: ReplayServer) -> None:
    src = StripeApiSource("sk_test_exp", server.url, rate_limit=200)
    plain = StripeApiSource("sk_test_exp", server.url, rate_limit=200).read_days("balance_transactions", DAYS)
    tables, sources = src.read_days_expanded(DAYS)
    assert {d: _digest(t.to_pylist()) for d, t in tables.items()} == \
           {d: _digest(t.to_pylist()) for d, t in plain.items()}
    charges = {r["id"]: r for r in _export_table(export_dir, "charges").to_pylist()}
    referenced = {r["source"] for t in tables.values() for r in t.to_pylist() if r["source"].startswith("ch_")}
    assert {c["id"] for c in sources["charges"]} == referenced
    c = sources["charges"][0]
    assert to_row("charges", c, "x") == charges[c["id"]]
    plain_src = StripeApiSource("sk_test_exp", server.url, rate_limit=200)
    plain_src.read_days("balance_transactions", DAYS)
    charges_src = StripeApiSource("sk_test_exp", server.url, rate_limit=200)
    charges_src.read_days("charges", DAYS)
    # the sources ride along: no more requests than the BT listing alone, fewer than BTs + charges
    assert src.stats.requests <= plain_src.stats.requests * 1.2 + 2
    assert src.stats.requests < plain_src.stats.requests + charges_src.stats.requests


def test_retries_on_injected_429_and_500_lose_and_duplicate_nothing(export_dir: Path) -> None:
    cfg = ReplayConfig(error_rate=0.3, retry_after=0.01, seed=3)
    with ReplayServer(export_dir, config=cfg) as srv:
        src = StripeApiSource("sk_test_flaky", srv.url, rate_limit=500, max_workers=6, backoff_base=0.01,
                              max_attempts=20)
        got = src.read_days("charges", DAYS)
        by_status = srv.counter.by_status
    assert by_status[429] > 0 and by_status[500] > 0
    assert src.stats.retries == by_status[429] + by_status[500]
    assert src.stats.rate_limited == by_status[429]
    ids = [i for t in got.values() for i in t.column("id").to_pylist()]
    assert len(ids) == len(set(ids))
    export_ids = {r["id"] for r in _export_table(export_dir, "charges").to_pylist() if utc_day(r["created"]) in DAYS}
    assert set(ids) == export_ids


def test_retries_give_up_with_stripes_message(export_dir: Path) -> None:
    cfg = ReplayConfig(error_rate=1.0, error_statuses=(500,))
    with ReplayServer(export_dir, config=cfg) as srv:
        src = StripeApiSource("sk_test_down", srv.url, rate_limit=500, backoff_base=0.001, max_attempts=3)
        with pytest.raises(StripeApiError, match="HTTP 500: An unknown error occurred") as err:
            src.read_days("customers", DAYS[:1])
    assert src.stats.retries == 2
    assert "GET /v1/customers" in err.value.where


def test_other_4xx_fail_at_once_with_stripes_message(server: ReplayServer) -> None:
    src = StripeApiSource("rk_live_wrong", server.url, rate_limit=100)
    with pytest.raises(StripeApiError, match="HTTP 401: Invalid API Key provided"):
        src.read_days("charges", DAYS[:1])
    assert src.stats.retries == 0


def test_limiter_holds_server_side_in_every_second(export_dir: Path) -> None:
    # The limiter's own grant schedule is checked, not the server's arrival times: those also carry this
    # machine's thread-scheduling jitter (a loaded CI host bunches arrivals), which tests/bench measures.
    grants: list[float] = []
    with ReplayServer(export_dir, config=ReplayConfig(latency_ms=5)) as srv:
        limiter = TokenBucket(10, on_grant=grants.append)
        src = StripeApiSource("sk_test_lim", srv.url, max_workers=8, limiter=limiter)
        src.read_days("balance_transactions", DAYS[:2])
        counts = srv.counter.snapshot()
    assert counts["total"] > 12  # the run spans more than one second of budget
    assert counts["total"] == len(grants)  # every request the server saw went through the one limiter
    grants.sort()
    assert max(sum(1 for t in grants if s <= t < s + 1.0) for s in grants) <= 10


def test_manual_payouts_are_reported_not_silently_dropped(tmp_path: Path) -> None:
    write_synthetic_export(tmp_path, balance_transactions=70, days=7, start=START)  # day 7's payout is manual
    with ReplayServer(tmp_path) as srv:
        src = StripeApiSource("sk_test_po", srv.url, rate_limit=200)
        days = [START + dt.timedelta(days=i) for i in range(7)]
        got = src.read_days("payout_balance_transactions", days)
    assert all(got[d].num_rows == 10 for d in days[:6])
    assert got[days[6]].num_rows == 0
    assert len(src.stats.warnings) == 1
    assert "po_000000000006Rp: manual payout" in src.stats.warnings[0]


def test_event_refresher_finds_changed_old_days(server: ReplayServer) -> None:
    src = StripeApiSource("sk_test_ev", server.url, rate_limit=200)
    since = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    until = dt.datetime(2026, 1, 20, tzinfo=dt.UTC)
    plan = plan_refresh(src, since, until, run_day=dt.date(2026, 1, 20), lookback_days=7, earliest=START)
    assert plan.events_seen == 20  # the synthetic account's charge.updated events
    assert plan.days == {"charges": [START]}
    # inside the lookback, nothing extra is planned: the lookback re-reads those days anyway
    plan2 = plan_refresh(src, since, until, run_day=dt.date(2026, 1, 3), lookback_days=7, earliest=START)
    assert plan2.days == {}


def test_event_gap_longer_than_retention_names_the_backfill() -> None:
    since = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    until = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    with pytest.raises(EventGapError) as err:
        check_event_gap(since, until, run_day=dt.date(2026, 3, 1), lookback_days=7, earliest=dt.date(2025, 1, 1))
    cmd = ("dagster asset materialize -m pipelines.definitions --select 'key:\"raw/*\"' "
           "--partition-range 2025-01-01...2026-02-21")
    assert err.value.command == cmd == backfill_command(dt.date(2025, 1, 1), dt.date(2026, 2, 21))
    assert cmd in str(err.value)
    check_event_gap(since, since + dt.timedelta(days=30), run_day=dt.date(2026, 1, 31), lookback_days=7,
                    earliest=dt.date(2025, 1, 1))  # within retention: fine


@pytest.fixture(scope="module")
def simulated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An account from the project's simulator (`cashbook simulate`), the realistic shapes."""
    out = tmp_path_factory.mktemp("sim") / "export"
    cmd = [sys.executable, "-c", "import sys; from cashbook.cli import app; app(sys.argv[1:])",
           "simulate", "--out", str(out), "--customers", "200", "--months", "2", "--seed", "5"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return out


def test_simulated_account_partitions_equal_export_reader(simulated_dir: Path) -> None:
    with ReplayServer(simulated_dir) as srv:
        for stream in STRIPE_STREAMS:
            expected = _per_day(_export_table(simulated_dir, stream), stream)
            src = StripeApiSource("sk_test_sim", srv.url, rate_limit=1000, max_workers=8)
            got = src.read_days(stream, sorted(expected))
            assert {d: _digest(t.to_pylist()) for d, t in got.items()} == expected, stream
            assert src.stats.duplicates == 0
