"""Garbage-collector policy of an API process: freeze the startup heap, collect the young generation less often.

Why (issue 15, profile in docs/BENCHMARKS.md, bench:webhooks): after the imports (FastAPI, pydantic, psycopg,
structlog, Stripe, prometheus) an API process holds ~125,000 tracked objects, and a full (generation 2)
collection walks all of them: 50–60 ms on this machine, during which the event loop answers nothing. That
pause was the p99 of the bare endpoint (38–43 ms at p50 6 ms) and a large part of the webhook p99. Nothing
allocated at startup is garbage, so `gc.freeze()` moves it to the permanent generation once the app is up:
later collections walk only what requests allocated since (a full one then takes well under a millisecond).
A larger generation-0 threshold makes the young collections rarer; each request allocates a few hundred
short-lived objects, most of which reference counting frees before any collection sees them.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 10_000  # CPython's default is 700
_done = False


def freeze_startup_heap() -> None:
    """Call once the app has started (imports done, pools open): collect, then freeze what survived.

    Once per process: a process that starts several apps (the test suite) freezes only at the first, so what a
    later app leaves behind is still collected (frozen objects are never freed, even once unreachable)."""
    global _done
    if _done:
        return
    _done = True
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
