"""FastAPI dependencies (`Annotated` aliases): settings, pool, gateway, current user, services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from api.problems import Problem
from api.services.billing import BillingService
from api.services.idempotency import Idempotency
from api.settings import ApiSettings
from cashbook.billing.tokens import Principal, TokenError, decode
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


def current_user(settings: SettingsDep,
                 creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer":
        raise Problem(401, "unauthorized", "a bearer token is required")
    try:
        return decode(creds.credentials, settings.signing_secret())
    except TokenError:
        raise Problem(401, "unauthorized", "the bearer token is invalid or expired") from None


UserDep = Annotated[Principal, Depends(current_user)]


def billing_service(request: Request, pool: PoolDep, gateway: GatewayDep, settings: SettingsDep) -> BillingService:
    return BillingService(pool, gateway, settings, request.app.state.lease_seconds)


BillingDep = Annotated[BillingService, Depends(billing_service)]


def idempotency(request: Request, pool: PoolDep, user: UserDep, settings: SettingsDep) -> Idempotency:
    return Idempotency(pool, user.user_id, request.headers.get("Idempotency-Key"), request.method,
                       request.url.path, settings.idempotency_ttl_hours, request.app.state.lease_seconds)


IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]
