"""Request statistics for `GET /api/analytics/health`: rate, error rate and latency of the API, per minute.

The request middleware (api/observability.py) counts every response (health probes excluded) into a bucket per UTC minute: requests,
4xx, 5xx, billing requests and billing requests that failed because Stripe failed (502) or was unavailable
(503: circuit open, rate-limited), and a latency histogram with fixed bounds. With `REDIS_URL` the buckets
live in Redis hashes (`<prefix>:<minute>`, kept two hours), so every API worker process adds to the same
figures; without Redis, or while Redis does not answer, they stay in this process's memory and the reader
says so (`source: "process"`). Recording is fail-soft: a Redis error never fails or slows a request.

Writes to Redis are batched per process (issue 15): a response only adds to in-memory counters, and one
background task sends what accumulated every `FLUSH_SECONDS` as one pipeline (HINCRBY per touched field, EXPIRE
per touched minute), with a 0.5 s timeout; Redis is left alone for a few seconds after an error and the batch is
kept in process memory instead. Per request this replaced a task and a Redis round trip (the profile of webhook
intake). The reader in this process adds what it has not flushed yet, so its own counts are never behind; other
processes' counts are at most one flush interval behind, and the last interval of a stopping process is lost.

Why a histogram and not exact percentiles: a per-minute hash of ~20 counters is O(1) per request and sums
across workers and minutes; the percentiles it gives are the upper bound of the bucket holding the rank
(e.g. "p95 ≤ 50 ms"), which is what an on-call reader needs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

_log = logging.getLogger("cashbook.api.request_stats")

# Latency bucket upper bounds in milliseconds; the last bucket is open-ended.
BOUNDS_MS: tuple[float, ...] = (1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000)
EXCLUDED_PATHS = frozenset({"/healthz", "/readyz"})
BILLING_PREFIX = "/api/billing"
KEEP_SECONDS = 7200
RETRY_REDIS_AFTER = 5.0
FLUSH_SECONDS = 1.0
FIELDS = ("n", "e4", "e5", "bn", "be")  # requests, 4xx, 5xx, billing requests, billing requests failed by Stripe


def bucket_index(ms: float) -> int:
    for i, bound in enumerate(BOUNDS_MS):
        if ms <= bound:
            return i
    return len(BOUNDS_MS)


def fields_for(path: str, status: int, ms: float) -> dict[str, int]:
    """The counters one response adds to its minute bucket."""
    out = {"n": 1, f"h{bucket_index(ms)}": 1}
    if 400 <= status < 500:
        out["e4"] = 1
    elif status >= 500:
        out["e5"] = 1
    if path.startswith(BILLING_PREFIX):
        out["bn"] = 1
        if status in (502, 503):
            out["be"] = 1
    return out


def percentile(hist: dict[int, int], total: int, q: float) -> float | None:
    """Upper bound (ms) of the bucket that holds rank ⌈q·total⌉; None when nothing was recorded.

    The open-ended last bucket reports its lower bound (the value is at least that)."""
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for i in range(len(BOUNDS_MS) + 1):
        seen += hist.get(i, 0)
        if seen >= rank:
            return BOUNDS_MS[min(i, len(BOUNDS_MS) - 1)]
    return BOUNDS_MS[-1]


@dataclass
class Window:
    minutes: int
    requests: int
    client_errors: int
    server_errors: int
    billing_requests: int
    stripe_failures: int
    histogram: dict[int, int]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        n = self.requests
        return {
            "minutes": self.minutes,
            "requests": n,
            "requests_per_second": round(n / self.seconds, 4) if self.seconds > 0 else 0.0,
            "client_errors": self.client_errors,
            "server_errors": self.server_errors,
            "error_rate": (self.server_errors / n) if n else None,
            "latency_ms": {"p50": percentile(self.histogram, n, 0.50), "p95": percentile(self.histogram, n, 0.95),
                           "p99": percentile(self.histogram, n, 0.99)},
            "billing_requests": self.billing_requests,
            "stripe_failures": self.stripe_failures,
            "stripe_error_rate": (self.stripe_failures / self.billing_requests) if self.billing_requests else None,
        }


class RequestStats:
    """The per-minute buckets: written by the middleware, read by the health route."""

    def __init__(self, redis_url: str | None, prefix: str = "cashbook-rs") -> None:
        self.redis_url, self.prefix = redis_url, prefix
        self.local: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.pending: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # not yet in Redis
        self._lock = threading.Lock()  # the health route may read from a thread while the loop records
        self._async: Any = None
        self._sync: Any = None
        self._redis_down_until = 0.0
        self._flusher: asyncio.Task[None] | None = None

    # -- writing ------------------------------------------------------------------------------
    def _redis_usable(self) -> bool:
        return self.redis_url is not None and time.monotonic() >= self._redis_down_until

    def _mark_down(self, exc: BaseException) -> None:
        if time.monotonic() >= self._redis_down_until:
            _log.warning("request stats: Redis unavailable (%s); counting in process memory", type(exc).__name__)
        self._redis_down_until = time.monotonic() + RETRY_REDIS_AFTER

    def record(self, path: str, status: int, ms: float, now: float | None = None) -> None:
        minute = int((now if now is not None else time.time()) // 60)
        fields = fields_for(path, status, ms)
        if self.redis_url is not None and self._ensure_flusher():
            with self._lock:
                bucket = self.pending[minute]
                for k, v in fields.items():
                    bucket[k] += v
            return
        self._record_local(minute, fields)

    def _ensure_flusher(self) -> bool:
        """The background flush task of this event loop; False when there is no running loop (a sync caller)."""
        if self._flusher is not None and not self._flusher.done():
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._flusher = loop.create_task(self._flush_forever(), name="request-stats-flush")
        return True

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self.flush()

    def _take_pending(self) -> dict[int, dict[str, int]]:
        with self._lock:
            batch, self.pending = self.pending, defaultdict(lambda: defaultdict(int))
        return batch

    async def flush(self) -> None:
        """Send what accumulated to Redis in one pipeline; on any error keep it in process memory (fail-soft)."""
        batch = self._take_pending()
        if not batch:
            return
        if not self._redis_usable():
            self._merge_local(batch)
            return
        try:
            if self._async is None:
                import redis.asyncio as aredis

                self._async = aredis.Redis.from_url(self.redis_url, socket_timeout=0.25, socket_connect_timeout=0.25)
            pipe = self._async.pipeline(transaction=False)
            for minute, fields in batch.items():
                key = f"{self.prefix}:{minute}"
                for k, v in fields.items():
                    pipe.hincrby(key, k, v)
                pipe.expire(key, KEEP_SECONDS)
            await asyncio.wait_for(pipe.execute(), timeout=0.5)
        except Exception as exc:  # fail-soft: count it here instead
            self._mark_down(exc)
            self._merge_local(batch)

    def _merge_local(self, batch: dict[int, dict[str, int]]) -> None:
        for minute, fields in sorted(batch.items()):
            self._record_local(minute, fields)

    def _record_local(self, minute: int, fields: dict[str, int]) -> None:
        with self._lock:
            if minute not in self.local:  # a new minute: drop the ones past the window (not on every request)
                for old in [m for m in self.local if m < minute - KEEP_SECONDS // 60]:
                    del self.local[old]
            bucket = self.local[minute]
            for k, v in fields.items():
                bucket[k] += v

    def _unflushed(self, minute: int) -> dict[str, int]:
        """This process's counts for `minute` that Redis does not have: kept locally, or not flushed yet."""
        with self._lock:
            out = dict(self.local.get(minute, {}))
            for k, v in self.pending.get(minute, {}).items():
                out[k] = out.get(k, 0) + v
        return out

    # -- reading ------------------------------------------------------------------------------
    def _buckets(self, minutes: list[int]) -> tuple[list[dict[str, int]], str]:
        if self._redis_usable():
            try:
                if self._sync is None:
                    import redis

                    self._sync = redis.Redis.from_url(self.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
                pipe = self._sync.pipeline(transaction=False)
                for m in minutes:
                    pipe.hgetall(f"{self.prefix}:{m}")
                raw = pipe.execute()
                buckets = [{k.decode(): int(v) for k, v in h.items()} for h in raw]
                # anything counted locally while Redis was away, or not flushed yet, is added: no request is lost
                for b, m in zip(buckets, minutes, strict=True):
                    for k, v in self._unflushed(m).items():
                        b[k] = b.get(k, 0) + v
                return buckets, "redis"
            except Exception as exc:
                self._mark_down(exc)
        return [self._unflushed(m) for m in minutes], "process"

    def windows(self, spans: tuple[int, ...] = (5, 60), now: float | None = None) -> tuple[list[Window], str]:
        """Each span: the current minute and the span−1 minutes before it."""
        now = time.time() if now is None else now
        current = int(now // 60)
        longest = max(spans)
        minutes = list(range(current - longest + 1, current + 1))
        buckets, source = self._buckets(minutes)
        by_minute = dict(zip(minutes, buckets, strict=True))
        out = []
        for span in spans:
            agg: dict[str, int] = defaultdict(int)
            for m in range(current - span + 1, current + 1):
                for k, v in by_minute[m].items():
                    agg[k] += v
            hist = {int(k[1:]): v for k, v in agg.items() if k.startswith("h")}
            seconds = now - (current - span + 1) * 60
            out.append(Window(span, agg["n"], agg["e4"], agg["e5"], agg["bn"], agg["be"], hist, seconds))
        return out, source
