"""The shared limiter: never more than `rate` starts in any sliding second, spaced 1/rate apart, thread-safe."""

from __future__ import annotations

import itertools
import threading

import pytest

from cashbook.sources.ratelimit import TokenBucket, default_rate


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def _max_in_window(times: list[float], window: float = 1.0) -> int:
    best, j = 0, 0
    for i, t in enumerate(times):
        while t - times[j] >= window:
            j += 1
        best = max(best, i - j + 1)
    return best


@pytest.mark.parametrize("rate", [25.0, 90.0, 2.5, 0.5])
def test_no_sliding_second_exceeds_rate(rate: float) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate, clock=clock.now, sleep=clock.sleep)
    starts = []
    for _ in range(int(rate * 5) + 3):
        bucket.acquire()
        starts.append(clock.t)
    assert _max_in_window(starts) <= max(1, int(rate))
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 1 / rate - 1e-9
    # throughput stays close to the limit (whole requests per second), within the 80 ms margin
    assert (len(starts) - 1) / (starts[-1] - starts[0]) > min(rate, max(1, int(rate))) / 1.15


def test_threads_share_one_budget() -> None:
    starts: list[float] = []
    # grant times are recorded under the bucket's lock, so a thread scheduled late cannot bunch them
    bucket = TokenBucket(50, on_grant=starts.append)

    def worker() -> None:
        for _ in range(10):
            bucket.acquire()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts.sort()
    assert len(starts) == 60 and bucket.acquired == 60
    assert _max_in_window(starts) <= 50


def test_default_rate_by_key_mode() -> None:
    assert default_rate("sk_test_abc") == 25
    assert default_rate("rk_test_abc") == 25
    assert default_rate("sk_live_abc") == 90
    with pytest.raises(ValueError):
        TokenBucket(0)
