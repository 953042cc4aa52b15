"""A circuit breaker for calls to an external service (Stripe), safe to share between threads.

Closed: calls go through and consecutive failures are counted. After `fail_max` failures in a row it opens:
calls fail at once (`CircuitOpen`, with the seconds left) instead of each waiting for its timeouts. After
`reset_seconds` it is half-open: one probe call goes through (others still fail fast); its success closes
the circuit, its failure opens it again. Only infrastructure failures count (timeouts, connection errors,
5xx, 429); an answer such as a declined card proves the service is up and counts as a success.

Why not pybreaker (evaluated, 1.4.1): its `CircuitBreaker.call` holds one lock across the wrapped call, so
every Stripe call of a process would run one at a time. This keeps the same states and semantics with the
lock held only for the state transitions. `states()` is read by /readyz and by a later metrics endpoint.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
_ALL: weakref.WeakValueDictionary[str, CircuitBreaker] = weakref.WeakValueDictionary()


class CircuitOpen(Exception):
    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(f"circuit {name} is open; retry after {retry_after:.0f} s")
        self.retry_after = retry_after


class CircuitBreaker:
    def __init__(self, name: str, *, fail_max: int = 5, reset_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if fail_max < 1 or reset_seconds <= 0:
            raise ValueError("fail_max must be ≥ 1 and reset_seconds > 0")
        self.name, self.fail_max, self.reset_seconds, self.clock = name, fail_max, reset_seconds, clock
        self._lock = threading.Lock()
        self.state = CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.opens = 0  # times it opened since start (for metrics)
        self.rejected = 0  # calls refused while open
        self._probing = False
        _ALL[f"{name}:{id(self)}"] = self

    def before_call(self) -> None:
        """Raise `CircuitOpen` when the call must not be made."""
        with self._lock:
            if self.state == OPEN:
                waited = self.clock() - self.opened_at
                if waited < self.reset_seconds:
                    self.rejected += 1
                    raise CircuitOpen(self.name, self.reset_seconds - waited)
                self.state, self._probing = HALF_OPEN, False
            if self.state == HALF_OPEN:
                if self._probing:
                    self.rejected += 1
                    raise CircuitOpen(self.name, 1.0)
                self._probing = True

    def success(self) -> None:
        with self._lock:
            self.failures, self.state, self._probing = 0, CLOSED, False

    def failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self.state == HALF_OPEN or self.failures >= self.fail_max:
                if self.state != OPEN:
                    self.opens += 1
                self.state, self.opened_at, self._probing = OPEN, self.clock(), False

    def retry_after(self) -> int:
        """Whole seconds until a call may be tried again (0 when closed)."""
        with self._lock:
            if self.state != OPEN:
                return 0
            return max(1, math.ceil(self.reset_seconds - (self.clock() - self.opened_at)))

    def snapshot(self) -> dict[str, Any]:
        return {"state": self.state, "consecutive_failures": self.failures, "opens": self.opens,
                "rejected": self.rejected, "retry_after_seconds": self.retry_after()}


def states() -> dict[str, dict[str, Any]]:
    """Every live breaker by name (the last one wins if a name is reused), for /readyz and metrics."""
    return {b.name: b.snapshot() for b in list(_ALL.values())}
