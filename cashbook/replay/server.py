"""The replay server: an export directory served over HTTP with Stripe's list semantics.

Tests and benchmarks need a Stripe that holds a whole simulated account, answers like Stripe
(newest first, cursors, `created` filters, error bodies, 429s with Retry-After) and can be made slow
and flaky on purpose. It is an asyncio (aiohttp) app so hundreds of concurrent requests with injected
latency cost nothing, binds loopback only, and counts requests per second server-side so a client's
rate limiter can be checked by the side that matters.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from cashbook.replay.store import ExportStore, StripeRequestError
from cashbook.sources.registry import LISTED_OBJECTS

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class ReplayConfig:
    latency_ms: float = 0.0
    error_rate: float = 0.0           # share of /v1 requests answered with an injected error
    error_statuses: tuple[int, ...] = (429, 500)
    retry_after: float = 1.0          # seconds, sent on injected 429s
    seed: int = 0
    api_key_prefix: str = "sk_"


@dataclass
class RequestCounter:
    """Requests by arrival second and the largest count inside any sliding 1-second window."""

    per_second: Counter[int] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    total: int = 0
    max_sliding_1s: int = 0
    _recent: deque[float] = field(default_factory=deque)

    def hit(self, now: float) -> None:
        self.total += 1
        self.per_second[int(now)] += 1
        self._recent.append(now)
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        self.max_sliding_1s = max(self.max_sliding_1s, len(self._recent))

    def snapshot(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "max_per_second": max(self.per_second.values(), default=0),
            "max_sliding_1s": self.max_sliding_1s,
            "per_second": {str(k): v for k, v in sorted(self.per_second.items())},
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
        }


COUNTER_KEY: web.AppKey[RequestCounter] = web.AppKey("counter", RequestCounter)
STORE_KEY: web.AppKey[ExportStore] = web.AppKey("store", ExportStore)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json",
                        headers=headers)


def _error(exc: StripeRequestError, headers: dict[str, str] | None = None) -> web.Response:
    return _json(exc.body(), exc.status, headers)


def build_app(store: ExportStore, config: ReplayConfig | None = None) -> web.Application:
    """The aiohttp application; `app[COUNTER_KEY]` holds the request counts."""
    cfg = config or ReplayConfig()
    rng = random.Random(cfg.seed)
    counter = RequestCounter()

    @web.middleware
    async def stripe_like(request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith("/v1/"):
            return await handler(request)
        counter.hit(time.time())
        if cfg.latency_ms:
            await asyncio.sleep(cfg.latency_ms / 1000)
        response = await _guarded(request, handler)
        counter.by_status[response.status] += 1
        return response

    async def _guarded(request: web.Request, handler: Any) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer " + cfg.api_key_prefix):
            return _error(StripeRequestError(401, "Invalid API Key provided.", type_="invalid_request_error"))
        if cfg.error_rate and rng.random() < cfg.error_rate:
            status = rng.choice(cfg.error_statuses)
            if status == 429:
                return _error(StripeRequestError(
                    429, "Request rate limit exceeded. Please retry after a short wait.",
                    code="rate_limit", type_="invalid_request_error"),
                    {"Retry-After": f"{cfg.retry_after:g}", "Stripe-Should-Retry": "true"})
            return _error(StripeRequestError(status, "An unknown error occurred (injected by the replay server).",
                                             type_="api_error"), {"Stripe-Should-Retry": "true"})
        if request.method != "GET":
            return _error(StripeRequestError(405, "The replay server is read-only: only GET is supported."))
        try:
            return await handler(request)
        except StripeRequestError as exc:
            return _error(exc)

    def _query(request: web.Request) -> dict[str, list[str]]:
        q: dict[str, list[str]] = {}
        for k, v in request.query.items():
            q.setdefault(k, []).append(v)
        return q

    async def list_handler(request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        if resource not in LISTED_OBJECTS:
            raise StripeRequestError(404, f"Unrecognized request URL (GET: {request.path}).")
        return _json(store.list_page(resource, _query(request)))

    async def retrieve_handler(request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        if resource not in LISTED_OBJECTS:
            raise StripeRequestError(404, f"Unrecognized request URL (GET: {request.path}).")
        return _json(store.retrieve(resource, request.match_info["id"], _query(request)))

    async def balance_history(request: web.Request) -> web.Response:
        return _json(store.list_page("balance_transactions", _query(request)))

    async def stats_handler(request: web.Request) -> web.Response:
        return _json({"requests": counter.snapshot(), "objects": store.counts(),
                      "config": {"latency_ms": cfg.latency_ms, "error_rate": cfg.error_rate}})

    async def reset_in_place(request: web.Request) -> web.Response:
        counter.per_second.clear()
        counter.by_status.clear()
        counter.total = 0
        counter.max_sliding_1s = 0
        counter._recent.clear()
        return _json({"reset": True})

    app = web.Application(middlewares=[stripe_like])
    app[COUNTER_KEY] = counter
    app[STORE_KEY] = store
    app.router.add_get("/_replay/stats", stats_handler)
    app.router.add_post("/_replay/reset", reset_in_place)
    app.router.add_get("/v1/balance/history", balance_history)
    app.router.add_get("/v1/{resource}", list_handler)
    app.router.add_get("/v1/{resource}/{id}", retrieve_handler)
    app.router.add_route("*", "/v1/{tail:.*}", list_handler)
    return app


def check_loopback(host: str) -> None:
    if host not in LOOPBACK:
        raise ValueError(f"the replay server binds loopback only (127.0.0.1), not {host!r}")


class ReplayServer:
    """Runs the app on its own event loop in a background thread: `with ReplayServer(dir) as srv: srv.url`."""

    def __init__(self, export_dir: Path | str, *, host: str = "127.0.0.1", port: int = 0,
                 config: ReplayConfig | None = None, store: ExportStore | None = None) -> None:
        check_loopback(host)
        self.store = store or ExportStore.load(Path(export_dir))
        self.config = config or ReplayConfig()
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.app = build_app(self.store, self.config)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def counter(self) -> RequestCounter:
        return self.app[COUNTER_KEY]

    def start(self) -> ReplayServer:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                runner = web.AppRunner(self.app, access_log=None)
                loop.run_until_complete(runner.setup())
                site = web.TCPSite(runner, self.host, self.port, backlog=1024)
                loop.run_until_complete(site.start())
                self._runner = runner
                sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
                self.port = sockets[0].getsockname()[1]
            except BaseException as exc:  # surfaced to the caller of start()
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="replay-server", daemon=True)
        self._thread.start()
        ready.wait(30)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(export_dir: Path, *, host: str = "127.0.0.1", port: int = 8421,
                  config: ReplayConfig | None = None, on_ready: Any = None) -> None:
    """Blocking server for the CLI; `on_ready(url)` is called once the socket listens."""
    check_loopback(host)
    store = ExportStore.load(export_dir)
    app = build_app(store, config)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port, backlog=1024)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        bound = sockets[0].getsockname()[1]
        if on_ready:
            on_ready(f"http://{host}:{bound}", store.counts())
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())
