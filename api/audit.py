"""The append-only audit trail of admin requests (issue 12; reused by issue 13's admin tools).

Two kinds of rows in `audit_log` (the database refuses UPDATE/TRUNCATE, and DELETE but for retention, 0025):
- a *change* row, written by a service in the same transaction as the change it records (`record(...)`,
  with `before`/`after`), so an admin change can never commit without its audit row;
- a *request* row for every request to `/api/admin/*` that wrote no change row — reads, refusals (401/403),
  failures — written by `AuditMiddleware` before the response leaves. If that write fails, the admin
  request fails closed (503 `audit_unavailable`) instead of going unrecorded.
Each row carries actor (user id and e-mail from the verified token, `anonymous` otherwise), action, target,
client IP, user agent, method, path, query, status, time and the request id (`X-Request-ID`, echoed back).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import PROBLEM, Problem
from cashbook.paths import SQL_DIR

_log = logging.getLogger("cashbook.api.audit")
INSERT_SQL = (SQL_DIR / "postgres" / "audit" / "insert.sql").read_text()
ADMIN_PREFIX = "/api/admin"
# the path parameters that name what an admin request acts on (issue 13 adds manual payments, jobs, reports)
_TARGETS = ("discrepancy_id", "event_id", "mp_id", "job_id", "report_id")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class AuditContext:
    """Who asked, from where, in which request: what a service needs to write its change row."""

    actor: str
    actor_email: str | None
    method: str
    path: str
    query: str | None
    ip: str | None
    user_agent: str | None
    request_id: str

    @classmethod
    def of(cls, request: Request) -> AuditContext:
        actor = getattr(request.state, "actor", None)
        return cls(actor=actor.user_id if actor else "anonymous", actor_email=actor.email if actor else None,
                   method=request.method, path=request.url.path, query=request.url.query or None,
                   ip=request.client.host if request.client else None,
                   user_agent=(request.headers.get("user-agent") or "")[:300] or None,
                   request_id=request_id_of(request.scope))


def request_id_of(scope: Scope) -> str:
    state = scope.setdefault("state", {})
    if "request_id" not in state:
        given = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-request-id"), "")
        state["request_id"] = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    return state["request_id"]


def _row(ctx: AuditContext, action: str, target: str | None, outcome: str, status: int | None,
         before: Any, after: Any) -> dict[str, Any]:
    return {"actor": ctx.actor, "actor_email": ctx.actor_email, "action": action, "target": target,
            "outcome": outcome, "status_code": status, "before": None if before is None else Jsonb(before),
            "after": None if after is None else Jsonb(after), "method": ctx.method, "path": ctx.path,
            "query": ctx.query, "ip": ctx.ip, "user_agent": ctx.user_agent, "request_id": ctx.request_id}


@dataclass(frozen=True)
class Auditor:
    """Handed to services (`AuditDep`): writes change rows in the service's own transaction."""

    ctx: AuditContext
    state: Any  # request.state: marks the request as recorded for the middleware

    def record(self, conn: psycopg.Connection, action: str, target: str | None, *, before: Any = None,
               after: Any = None) -> int:
        row = _row(self.ctx, action, target, "changed", None, _json(before), _json(after))
        audit_id = conn.execute(INSERT_SQL, row).fetchone()[0]
        self.state.audited = True
        return int(audit_id)


def _json(value: Any) -> Any:
    return None if value is None else orjson.loads(orjson.dumps(value, default=str))


class AuditMiddleware:
    """Records every admin request (and sets/echoes X-Request-ID on every request)."""

    def __init__(self, app: ASGIApp, get_pool: Any) -> None:
        self.app, self.get_pool = app, get_pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        admin = scope["path"].startswith(ADMIN_PREFIX)
        if not admin and "request_id" in scope.get("state", {}):
            # the request-id middleware outside (api/observability.py) set the id and echoes it: nothing to add on
            # the hot non-admin paths (webhook intake), so no send wrapper either (issue 15)
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        suppressed = False

        async def wrapped(message: Message) -> None:
            nonlocal suppressed
            if suppressed:
                return
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                if admin and not scope["state"].get("audited"):
                    try:
                        await self._record(scope, message["status"])
                    except Exception:
                        _log.exception("audit write failed for %s %s; refusing the request", scope["method"],
                                       scope["path"])
                        suppressed = True
                        body = orjson.dumps(Problem(503, "audit_unavailable", "the audit trail cannot be written;"
                                                    " admin requests are refused until it can").body(scope["path"]))
                        await send({"type": "http.response.start", "status": 503, "headers": [
                            (b"content-type", PROBLEM.encode()), (b"content-length", str(len(body)).encode()),
                            (b"retry-after", b"5"), (b"x-request-id", request_id.encode())]})
                        await send({"type": "http.response.body", "body": body})
                        return
            await send(message)

        await self.app(scope, receive, wrapped)

    async def _record(self, scope: Scope, status: int) -> None:
        request = Request(scope)
        ctx = AuditContext.of(request)
        outcome = "allowed" if status < 400 else ("denied" if status in (401, 403) else "failed")
        params = scope.get("path_params") or {}
        target = next((params[k] for k in _TARGETS if params.get(k)), None)
        pool = self.get_pool(scope)
        async with pool.connection() as conn:
            await conn.execute(INSERT_SQL, _row(ctx, f"{ctx.method} {ctx.path}", target, outcome, status, None, None))
