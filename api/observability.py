"""Request ids, access log lines and Prometheus request metrics for the API; `GET /metrics`.

One pure ASGI middleware (no `BaseHTTPMiddleware`: it would add a task and a copy of the body per request, and
the webhook endpoint is measured against a bare endpoint), installed outermost so it also sees requests that the
rate limiter, CORS or the body limits answer:

- the request id is the caller's `X-Request-ID` when it is a plain token, else a fresh `req_…`; set first in
  `scope["state"]`, it is also the id the audit trail records (api/audit.py reads it from there); it is bound to
  every log line of the request (structlog context variables) and returned in the `X-Request-ID` response header;
  the webhook route stores it with the inbox row so the worker logs that event's processing under the same id;
- one `request` log line per request: method, route template, status, duration, plus what a route put in
  `scope["state"]["log_fields"]` (the webhook route: event id, type, duplicate) — never the query string,
  headers or body (they may carry tokens or personal data);
- `cashbook_http_requests_total` and `cashbook_http_request_duration_seconds` by method, route *template*
  (`/api/billing/history`, not the URL with its ids) and status; paths no route matched count as `<unmatched>`
  so scanners cannot grow the label set.
"""

from __future__ import annotations

import logging
import time

import structlog
from fastapi import FastAPI
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.request_stats import EXCLUDED_PATHS, RequestStats
from cashbook import metrics
from cashbook.logs import info_line, new_request_id, valid_request_id

_log = logging.getLogger(__name__)
_HEADER = b"x-request-id"
UNMATCHED = "<unmatched>"


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, access_log: bool = True, stats: RequestStats | None = None) -> None:
        self.app, self.access_log, self.stats = app, access_log, stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = None
        for name, value in scope["headers"]:
            if name == _HEADER:
                given = valid_request_id(value.decode("latin-1"))
                break
        request_id = given or new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        header = (_HEADER, request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                if not any(name.lower() == _HEADER for name, _ in headers):  # the audit middleware may echo it
                    message["headers"] = [*headers, header]
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route, method = _route_template(scope), scope["method"]
            code = str(status)
            metrics.HTTP_REQUESTS.labels(method, route, code).inc()
            metrics.HTTP_LATENCY.labels(method, route, code).observe(elapsed)
            if self.access_log and route != "/metrics":
                extra = scope["state"].get("log_fields") or {}  # e.g. the webhook route's event id
                info_line("cashbook.api", "request", method=method, route=route, status=status,
                          duration_ms=round(elapsed * 1000, 2), **extra)
            if self.stats is not None:
                self._record_stats(scope.get("path", ""), status, elapsed)
            structlog.contextvars.reset_contextvars(**tokens)

    def _record_stats(self, path: str, status: int, elapsed: float) -> None:
        """The analytics health route's shared per-minute figures, from this one timing of the request."""
        if path in EXCLUDED_PATHS:
            return
        try:
            self.stats.record(path, status, elapsed * 1000)
        except Exception:  # statistics never break a request
            _log.exception("request stats: recording failed")


def install(app: FastAPI, *, access_log: bool = True) -> None:
    """Add the middleware (call last, so it is outermost) and the `/metrics` endpoint.

    The same timing feeds the analytics request statistics when `api/routes/analytics.install` set them up:
    one middleware, one clock and one wrapped `send` per request, not two."""
    app.add_middleware(RequestContextMiddleware, access_log=access_log,
                       stats=getattr(app.state, "request_stats", None))

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:  # sync: the inbox gauges query Postgres
        return _metrics_response(app)


def _metrics_response(app: FastAPI) -> Response:
    pool = getattr(app.state, "pool", None)
    # a short wait: with Postgres down the scrape answers inbox_up 0 well inside a scrape timeout
    extra = [metrics.InboxCollector(lambda: pool.connection(timeout=2))] if pool is not None else []
    body, content_type = metrics.render(extra)
    return Response(body, media_type=content_type)
