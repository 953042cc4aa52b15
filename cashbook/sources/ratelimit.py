"""One shared, thread-safe request limiter for everything that calls Stripe.

Stripe limits requests per second per account (25/s in test mode, 100/s live), so every thread of an
ingestion run must draw from ONE budget. A classic token bucket with capacity C lets C + rate requests
through in some 1-second window (a full bucket plus a second of refill), which overshoots a hard
per-second limit. This bucket therefore returns each spent token only `window + margin` seconds after
it was spent (a sliding-window log): at most `capacity` requests start in any window of that length,
so the server never counts more than `rate` in any second. Starts are also spaced at least `1/rate`
apart: without that, the budget is spent in bursts of `capacity` requests, and a few requests of one
burst delayed by thread scheduling (GIL, connection set-up) land next to the following burst, which
a server counting per sliding second sees as an excess (measured: 29 in one second at a 25/s limit).
The `margin` absorbs the remaining jitter between our clock and the server's arrival times; it is also
what the bucket gives up, since the sustained rate is `capacity / (window + margin)`: 80 ms capped it at
92.6 % of the limit, 60 ms at 94.3 %. With 60 ms the replay server still counted at most the limit in
every sliding second of the benchmark on a 2-core machine at load 7, once request threads no longer
stalled on garbage collection; 40 ms let one second through with one request too many (docs/BENCHMARKS.md).
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

    The bucket holds `capacity = max(1, int(rate))` tokens; each comes back `max(1, capacity / rate)`
    seconds (+ `margin`) after it was taken, so no sliding second ever sees more than `capacity` starts.
    """

    def __init__(self, rate: float, *, margin: float = 0.06,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 on_grant: Callable[[float], None] | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests/s, got {rate}")
        self.rate = float(rate)
        self.capacity = max(1, int(rate))
        # At least a whole second, so a fractional rate (2.5/s) still means <= 2 starts in any second.
        self.window = max(1.0, self.capacity / self.rate) + margin
        self.interval = 1.0 / self.rate
        self._spent: deque[float] = deque()
        self._last = float("-inf")
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        # Called under the lock with each start's clock reading: the exact schedule the limiter granted,
        # which a test can check without depending on when the request threads were next scheduled.
        self._on_grant = on_grant
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
                spacing = self._last + self.interval - now
                if len(self._spent) < self.capacity and spacing <= 0:
                    self._spent.append(now)
                    self._last = now
                    self.acquired += 1
                    if self._on_grant is not None:
                        self._on_grant(now)
                    self.waited_seconds += waited
                    return waited
                delay = spacing
                if len(self._spent) >= self.capacity:
                    delay = max(delay, self.window - (now - self._spent[0]))
            # Sleep outside the lock so other threads can observe freed tokens too.
            delay = max(delay, 0.001)
            self._sleep(delay)
            waited += delay
