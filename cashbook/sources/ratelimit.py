"""One shared, thread-safe request limiter for everything that calls Stripe.

Stripe limits requests per second per account (25/s in test mode, 100/s live), so every thread of an
ingestion run must draw from ONE budget. A classic token bucket with capacity C lets C + rate requests
through in some 1-second window (a full bucket plus a second of refill), which overshoots a hard
per-second limit. This bucket therefore returns each spent token only `window + margin` seconds after
it was spent (a sliding-window log): at most `capacity` requests start in any window of that length,
so the server never counts more than `rate` in any second even with a few ms of network jitter.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

DEFAULT_TEST_RATE = 25.0
DEFAULT_LIVE_RATE = 90.0


def default_rate(api_key: str) -> float:
    """Test keys get Stripe's test-mode budget; anything else the live one, with headroom below 100/s."""
    return DEFAULT_TEST_RATE if api_key.startswith(("sk_test_", "rk_test_")) else DEFAULT_LIVE_RATE


class TokenBucket:
    """At most `rate` acquisitions per second, enforced over every sliding window.

    `rate` may be fractional: the bucket holds `capacity = max(1, int(rate))` tokens and each token
    comes back `capacity / rate` seconds (+ `margin`) after it was taken.
    """

    def __init__(self, rate: float, *, margin: float = 0.03,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests/s, got {rate}")
        self.rate = float(rate)
        self.capacity = max(1, int(rate))
        self.window = self.capacity / self.rate + margin
        self._spent: deque[float] = deque()
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.waited_seconds = 0.0
        self.acquired = 0

    def acquire(self) -> float:
        """Block until a request may start; returns the seconds this caller waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._spent and now - self._spent[0] >= self.window:
                    self._spent.popleft()
                if len(self._spent) < self.capacity:
                    self._spent.append(now)
                    self.acquired += 1
                    self.waited_seconds += waited
                    return waited
                delay = self.window - (now - self._spent[0])
            # Sleep outside the lock so other threads can observe freed tokens too.
            delay = max(delay, 0.001)
            self._sleep(delay)
            waited += delay
