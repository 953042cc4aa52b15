"""cashbook/circuit.py: closed → open after N failures → half-open probe → closed/open; thread-safe counters."""

from __future__ import annotations

import concurrent.futures as cf

import pytest

from cashbook.circuit import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, CircuitOpen, states


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_opens_fails_fast_then_probes_once() -> None:
    clock = Clock()
    b = CircuitBreaker("t1", fail_max=3, reset_seconds=30, clock=clock)
    for _ in range(2):
        b.before_call()
        b.failure()
    assert b.state == CLOSED
    b.before_call()
    b.failure()
    assert b.state == OPEN and b.retry_after() == 30
    clock.now += 10
    with pytest.raises(CircuitOpen) as err:
        b.before_call()
    assert err.value.retry_after == pytest.approx(20) and b.rejected == 1
    clock.now += 20
    b.before_call()  # the probe
    assert b.state == HALF_OPEN
    with pytest.raises(CircuitOpen):
        b.before_call()  # only one probe at a time
    b.failure()  # the probe failed: open again, for a full period
    assert b.state == OPEN and b.retry_after() == 30 and b.opens == 2
    clock.now += 30
    b.before_call()
    b.success()
    assert b.state == CLOSED and b.failures == 0
    assert states()["t1"]["state"] == CLOSED


def test_a_success_resets_the_count() -> None:
    b = CircuitBreaker("t2", fail_max=2, reset_seconds=5, clock=Clock())
    b.failure()
    b.success()
    b.failure()
    assert b.state == CLOSED


def test_concurrent_failures_open_exactly_once() -> None:
    b = CircuitBreaker("t3", fail_max=50, reset_seconds=5, clock=Clock())
    with cf.ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda _: b.failure(), range(400)))
    assert b.state == OPEN and b.failures == 400 and b.opens == 1
