"""Browser-facing protections (issue 12): CORS allowlist for the checkout, security headers, docs switch.

Stripe Elements runs in the checkout page, which calls this API from the browser: only the origins listed in
`CASHBOOK_API_CORS_ALLOW_ORIGINS` may, never `*` outside dev (bearer tokens, not cookies, so no credentials
mode either). Every response carries headers that stop a JSON answer from being sniffed, framed or cached
by shared caches; HSTS is on in prod. `/docs`, `/redoc` and `/openapi.json` are off in prod unless enabled.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOC_PATHS = ("/docs", "/redoc", "/openapi.json")
_BASE = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-site"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, hsts_seconds: int = 0) -> None:
        self.app = app
        hsts = [(b"strict-transport-security", f"max-age={hsts_seconds}; includeSubDomains".encode())
                ] if hsts_seconds > 0 else []
        # built once: the webhook path is hot (issue 7), so a response only extends its header list
        self.for_api = [*_BASE, *hsts, _API_CSP, _NO_STORE]
        self.for_other = [*_BASE, *hsts, _API_CSP]
        self.for_docs = [*_BASE, *hsts]  # the Swagger UI page loads its own scripts: no strict CSP there

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        extra = (self.for_api if path.startswith("/api/") else
                 self.for_docs if path.startswith(DOC_PATHS) else self.for_other)

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, wrapped)


def install(app: FastAPI, *, cors_origins: list[str], hsts_seconds: int) -> None:
    app.add_middleware(SecurityHeadersMiddleware, hsts_seconds=hsts_seconds)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_credentials=False,
                           allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
                           expose_headers=["Retry-After", "Idempotent-Replayed"], max_age=600)
