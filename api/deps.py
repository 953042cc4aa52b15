"""FastAPI dependencies (`Annotated` aliases): settings, pool, gateway, current user, services."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from api.audit import AuditContext, Auditor
from api.problems import Problem
from api.services.billing import BillingService
from api.services.idempotency import MAX_KEY_LEN, Idempotency
from api.services.risk import ClientInfo
from api.settings import ApiSettings
from cashbook.billing.tokens import (
    ADMIN_AUDIENCE,
    USER_AUDIENCE,
    Principal,
    TokenError,
    WrongAudience,
    decode,
)
from cashbook.stripe_gateway import StripeGateway

_bearer = HTTPBearer(auto_error=False, description="JWT minted by `cashbook token --user ID`")


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def get_pool(request: Request) -> ConnectionPool:
    return request.app.state.pool


def get_gateway(request: Request) -> StripeGateway:
    return request.app.state.gateway


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
PoolDep = Annotated[ConnectionPool, Depends(get_pool)]
GatewayDep = Annotated[StripeGateway, Depends(get_gateway)]


def _token(creds: HTTPAuthorizationCredentials | None) -> str:
    if creds is None or creds.scheme.lower() != "bearer":
        raise Problem(401, "unauthorized", "a bearer token is required")
    return creds.credentials


def current_user(settings: SettingsDep,
                 creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """A user token (audience `cashbook-api`); an admin token is not accepted here."""
    try:
        return decode(_token(creds), settings.signing_secret(), audience=USER_AUDIENCE, issuer=settings.jwt_issuer)
    except TokenError:
        raise Problem(401, "unauthorized", "the bearer token is invalid or expired") from None


UserDep = Annotated[Principal, Depends(current_user)]


def current_admin(request: Request, settings: SettingsDep, pool: PoolDep,
                  creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """An admin: a short-lived token for the admin audience *and* the database role, checked on every request.

    The role is read from `users.is_admin` each time (a revoked admin is refused at once; a token claim
    grants nothing). Reusable by every admin route (issue 13): the principal is also left on
    `request.state.actor` for the audit trail.
    """
    try:
        principal = decode(_token(creds), settings.signing_secret(), audience=ADMIN_AUDIENCE,
                           issuer=settings.jwt_issuer, max_lifetime_seconds=settings.admin_token_ttl_seconds)
    except WrongAudience:
        with contextlib.suppress(TokenError):  # for the audit trail: who tried, if it is a valid user token
            request.state.actor = decode(_token(creds), settings.signing_secret(), audience=USER_AUDIENCE,
                                         issuer=settings.jwt_issuer)
        raise Problem(403, "admin_token_required",
                      "an admin token is required (cashbook token --user ID --admin)") from None
    except TokenError:
        raise Problem(401, "unauthorized", "the admin token is invalid, expired or too long-lived") from None
    request.state.actor = principal
    with pool.connection() as conn:
        row = conn.execute("SELECT is_admin FROM users WHERE id = %s", (principal.user_id,)).fetchone()
    if not (row and row[0]):
        raise Problem(403, "forbidden", "this user does not have the admin role (cashbook admin-role USER)")
    return principal


AdminDep = Annotated[Principal, Depends(current_admin)]


def auditor(request: Request, _: AdminDep) -> Auditor:
    return Auditor(AuditContext.of(request), request.state)


AuditDep = Annotated[Auditor, Depends(auditor)]


async def limit_user(request: Request, user: UserDep) -> None:
    """Per-user rate limit (after authentication: the key is the verified user id)."""
    await request.app.state.ratelimits.check("user", user.user_id)


async def limit_payment(request: Request, user: UserDep) -> None:
    """The tighter per-user limit of the money-moving POSTs (card testing, runaway retry loops)."""
    await request.app.state.ratelimits.check("payment", user.user_id)


async def limit_admin(request: Request, admin: AdminDep) -> None:
    await request.app.state.ratelimits.check("user", "admin:" + admin.user_id)


def client_info(request: Request, settings: SettingsDep) -> ClientInfo:
    country = None
    if settings.risk_ip_country_header:
        raw = (request.headers.get(settings.risk_ip_country_header) or "").strip()
        country = raw.upper() if len(raw) == 2 and raw.isascii() and raw.isalpha() else None
    return ClientInfo(request.client.host if request.client else None, country)


def billing_service(request: Request, pool: PoolDep, gateway: GatewayDep, settings: SettingsDep) -> BillingService:
    return BillingService(pool, gateway, settings, request.app.state.lease_seconds, client_info(request, settings))


BillingDep = Annotated[BillingService, Depends(billing_service)]


def idempotency(request: Request, pool: PoolDep, user: UserDep, settings: SettingsDep,
                idempotency_key: Annotated[str | None, Header(
                    alias="Idempotency-Key", min_length=1, max_length=MAX_KEY_LEN,
                    description="Makes the POST safe to retry: the same key and body replay the stored response"
                                " (24 h, per user); the same key with another body is 409.")] = None) -> Idempotency:
    return Idempotency(pool, user.user_id, idempotency_key, request.method,
                       request.url.path, settings.idempotency_ttl_hours, request.app.state.lease_seconds)


IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]
