"""The OpenAPI document states every error a route can answer, as `application/problem+json` (issue 12, defect 7).

Generated clients (and fuzzers) only handle what the document declares: each route lists its problem
responses from the sets below, all pointing at one `Problem` schema (RFC 9457 plus our extra members);
429 and 503 declare `Retry-After`. FastAPI's default 422 (`application/json`, HTTPValidationError) is
replaced, because our validation errors are problems too.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

PROBLEM_MEDIA = "application/problem+json"
_REF = {"$ref": "#/components/schemas/Problem"}


class Problem(BaseModel):
    """RFC 9457 problem details; `type` ends with the stable code (e.g. `.../problems/idempotency_key_reused`)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(default=None, description="422 only: what is invalid, and where")


_DESCRIPTIONS = {
    400: "bad request (a body that is not JSON, a malformed cursor or Content-Length, a missing Stripe-Signature)",
    401: "missing, invalid or expired bearer token (webhooks: bad or stale signature)",
    402: "the card was declined (Stripe's message in `detail`)",
    403: "an admin route: not an admin-audience token, or the user lacks the admin role",
    404: "no such object for this user",
    409: "Idempotency-Key reused with another body or still running, or a state conflict",
    413: "body larger than the configured limit",
    422: "request validation failed (`errors` lists each problem and its location)",
    429: "rate limit exceeded; retry after `Retry-After` seconds",
    502: "the payment provider failed the request",
    503: "the payment provider is unavailable (circuit open) or rate-limits us; retry after `Retry-After`",
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"description": _DESCRIPTIONS[code], "content": {PROBLEM_MEDIA: {"schema": _REF}}}
        if code in (429, 503):
            entry["headers"] = _RETRY_AFTER
        out[code] = entry
    return out


USER_READ = problems(401, 422, 429)
USER_WRITE = problems(400, 401, 402, 404, 409, 422, 429, 502, 503)
ADMIN_READ = problems(401, 403, 422, 429)
ADMIN_WRITE = problems(400, 401, 403, 404, 409, 422, 429)
WEBHOOK = problems(400, 401, 413, 429, 503)
HEALTH = problems(503)


# A route whose dependency refuses a request without some header (400 problem, not FastAPI's 422) declares it
# optional to FastAPI; this operation extension lists those headers so the document says they are required.
REQUIRED_HEADERS = "x-cashbook-required-headers"


def _mark_required_headers(doc: dict[str, Any]) -> None:
    for path_item in doc.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or REQUIRED_HEADERS not in operation:
                continue
            names = {n.lower() for n in operation.pop(REQUIRED_HEADERS)}
            for param in operation.get("parameters", []):
                if param.get("in") == "header" and param.get("name", "").lower() in names:
                    param["required"] = True
                    schema = param.get("schema", {})
                    if "anyOf" in schema:  # `str | None` → `str`: the value may not be null either
                        param["schema"] = next(s for s in schema["anyOf"] if s.get("type") != "null") | {
                            k: v for k, v in schema.items() if k != "anyOf"}


def install(app: FastAPI) -> None:
    """Add the Problem schema to the generated document (routes reference it by $ref)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            _mark_required_headers(doc)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
