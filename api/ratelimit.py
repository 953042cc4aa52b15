"""Rate limits (issue 12): per client IP, per user, and a separate, much higher one for webhook intake.

Built on the `limits` library with its sliding-window-counter strategy (two counters per key, O(1) per hit).
Storage is Redis when `REDIS_URL` is set — every API process then shares one budget — and process memory
otherwise. If Redis stops answering, the limiter keeps limiting with a process-local memory window instead
of letting everything through (and logs it); it returns to Redis on the next request that succeeds.

Where each limit applies:
- `ip`: every request except health probes and webhooks, in an ASGI middleware before any other work;
- `webhook`: `POST /api/webhooks/*`, per source IP (Stripe's senders), high by default (bursts are normal);
- `user` and `payment`: after authentication, per user id (admins included); `payment` only on the
  money-moving POSTs (create-subscription, purchase-resume, confirm-payment, cancel-subscription).
A refused request is a 429 problem+json with `Retry-After` (whole seconds until a slot frees).
`stats()` exposes counters for a later metrics endpoint (issue 10).
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from typing import Any

import orjson
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import PROBLEM, Problem

_log = logging.getLogger("cashbook.api.ratelimit")
EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})
_COUNTS: Counter[tuple[str, str]] = Counter()  # (scope, "allowed" | "limited" | "fallback") → n


def stats() -> dict[str, dict[str, int]]:
    """{scope: {"allowed": n, "limited": n, "fallback": n}} since start, for a metrics endpoint."""
    out: dict[str, dict[str, int]] = {}
    for (scope, outcome), n in _COUNTS.items():
        out.setdefault(scope, {"allowed": 0, "limited": 0, "fallback": 0})[outcome] = n
    return out


class RateLimits:
    def __init__(self, *, ip: str, user: str, payment: str, webhook: str, redis_url: str | None,
                 enabled: bool = True, key_prefix: str = "cashbook-rl") -> None:
        self.enabled = enabled
        self.items: dict[str, RateLimitItem] = {"ip": parse(ip), "user": parse(user), "payment": parse(payment),
                                                "webhook": parse(webhook)}
        self.backend = "redis" if redis_url else "memory"
        storage: Storage
        if redis_url:
            storage = RedisStorage("async+" + redis_url.removeprefix("async+"), implementation="redispy",
                                   wrap_exceptions=True, socket_timeout=0.5, socket_connect_timeout=0.5,
                                   key_prefix=key_prefix)
        else:
            storage = MemoryStorage()
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        self.fallback = SlidingWindowCounterRateLimiter(MemoryStorage())

    @classmethod
    def from_settings(cls, s: Any) -> RateLimits:
        return cls(ip=s.rate_limit_ip, user=s.rate_limit_user, payment=s.rate_limit_payment,
                   webhook=s.rate_limit_webhook, redis_url=s.redis_url, enabled=s.rate_limit_enabled,
                   key_prefix=s.rate_limit_key_prefix)

    async def retry_after(self, scope: str, key: str) -> int | None:
        """Count one request; None when allowed, else the seconds to wait."""
        if not self.enabled:
            return None
        item = self.items[scope]
        limiter = self.limiter
        try:
            allowed = await limiter.hit(item, scope, key)
        except Exception as exc:  # Redis down or slow: keep limiting, per process
            _COUNTS[(scope, "fallback")] += 1
            if _COUNTS[(scope, "fallback")] == 1 or _COUNTS[(scope, "fallback")] % 1000 == 0:
                _log.warning("rate-limit storage unavailable (%s); limiting in process memory", type(exc).__name__)
            limiter = self.fallback
            allowed = await limiter.hit(item, scope, key)
        if allowed:
            _COUNTS[(scope, "allowed")] += 1
            return None
        _COUNTS[(scope, "limited")] += 1
        try:
            reset = (await limiter.get_window_stats(item, scope, key)).reset_time
        except Exception:
            reset = time.time() + item.get_expiry()
        return max(1, math.ceil(reset - time.time()))

    async def check(self, scope: str, key: str) -> None:
        """Raise the 429 problem when over the limit (for dependencies)."""
        wait = await self.retry_after(scope, key)
        if wait is not None:
            raise limited(scope, wait)


def limited(scope: str, wait: int) -> Problem:
    return Problem(429, "rate_limited", f"too many requests ({scope} limit); retry after {wait} s",
                   headers={"Retry-After": str(wait)})


class RateLimitMiddleware:
    """Per-IP (and webhook) limits before routing, auth or body parsing: a flood costs one counter hit."""

    def __init__(self, app: ASGIApp, limits: RateLimits) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limits.enabled or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        which = "webhook" if scope["path"].startswith("/api/webhooks/") else "ip"
        wait = await self.limits.retry_after(which, ip)
        if wait is None:
            await self.app(scope, receive, send)
            return
        problem = limited(which, wait)
        body = orjson.dumps(problem.body(scope["path"]))
        await send({"type": "http.response.start", "status": 429,
                    "headers": [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(body)).encode()),
                                (b"retry-after", str(wait).encode())]})
        await send({"type": "http.response.body", "body": body})
