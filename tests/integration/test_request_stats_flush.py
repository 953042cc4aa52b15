"""Request statistics batched per process (issue 15): responses only count in memory, one flush sends them to
Redis, the reader in the same process is never behind, and with Redis down the counts stay in process memory."""

from __future__ import annotations

import asyncio
import time
import uuid

import redis

from api.request_stats import RequestStats

REDIS = "redis://127.0.0.1:6379/0"


def test_counts_reach_redis_in_one_flush_and_the_reader_is_never_behind() -> None:
    prefix = "test-rs-" + uuid.uuid4().hex[:8]
    stats = RequestStats(REDIS, prefix=prefix)
    now = time.time()
    minute = int(now // 60)

    async def scenario() -> tuple[dict[bytes, bytes], int, dict[bytes, bytes]]:
        for _ in range(5):
            stats.record("/api/webhooks/stripe", 200, 3.0, now=now)
        stats.record("/api/billing/history", 503, 40.0, now=now)
        before = redis.Redis.from_url(REDIS).hgetall(f"{prefix}:{minute}")
        seen = stats.windows((5,), now=now)[0][0].requests  # read before any flush: pending counts included
        await stats.flush()
        return before, seen, redis.Redis.from_url(REDIS).hgetall(f"{prefix}:{minute}")

    try:
        before, seen, after = asyncio.run(scenario())
        assert before == {}  # nothing was written per request
        assert seen == 6
        assert {k.decode(): int(v) for k, v in after.items()} == {"n": 6, "h2": 5, "h6": 1, "e5": 1, "bn": 1, "be": 1}
        window = stats.windows((5,), now=now)[0][0]  # after the flush: read from Redis, not counted twice
        assert (window.requests, window.server_errors, window.stripe_failures) == (6, 1, 1)
    finally:
        client = redis.Redis.from_url(REDIS)
        for key in client.keys(f"{prefix}:*"):
            client.delete(key)


def test_with_redis_down_the_flush_keeps_counts_in_process_memory() -> None:
    stats = RequestStats("redis://127.0.0.1:1/0", prefix="test-rs-down")
    now = time.time()

    async def scenario() -> None:
        for _ in range(3):
            stats.record("/x", 404, 1.0, now=now)
        await stats.flush()

    asyncio.run(scenario())
    assert stats.pending == {}
    windows, source = stats.windows((5,), now=now)
    assert source == "process" and windows[0].requests == 3 and windows[0].client_errors == 3
