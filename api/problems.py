"""RFC 9457 problem+json errors. Internals (tracebacks, SQL, Stripe messages) never reach the client."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cashbook.stripe_gateway import GatewayError

_log = logging.getLogger("cashbook.api")
PROBLEM = "application/problem+json"


class Problem(Exception):
    """Raise from services; becomes a problem+json response with this status."""

    def __init__(self, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": f"https://cashbook.dev/problems/{self.code}",
                                "title": self.code.replace("_", " "), "status": self.status, "detail": self.detail}
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


def problem_response(p: Problem, instance: str | None = None) -> JSONResponse:
    return JSONResponse(p.body(instance), status_code=p.status, media_type=PROBLEM, headers=p.headers or None)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(GatewayError)
    async def _gateway(request: Request, exc: GatewayError) -> JSONResponse:
        detail = exc.message if exc.status in (402, 503) else "the payment provider rejected or failed the request"
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return problem_response(Problem(exc.status, exc.code, detail, headers=headers), request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()]
        return problem_response(Problem(422, "validation_error", "request is invalid", errors=errors),
                                request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else code
        resp = problem_response(Problem(exc.status_code, code, detail), request.url.path)
        if exc.headers:
            resp.headers.update(exc.headers)
        return resp

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unhandled error on %s", request.url.path)
        return problem_response(Problem(500, "internal_error", "an internal error occurred"), request.url.path)
