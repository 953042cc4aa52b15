"""`/api/analytics/*`: admin-only figures over the published marts and the API's own tables (issue 13).

Thin routes: validation here, reads in api/services/analytics.py, models in api/schemas/analytics.py.
`install(app)` adds the router and the request statistics the health route reads (recorded by api/observability.py).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BeforeValidator

from api.deps import AdminDep, PoolDep, SettingsDep, limit_admin
from api.openapi import problems
from api.problems import Problem
from api.request_stats import RequestStats
from api.schemas.analytics import AlertsPage, Dashboard, Health, RevenuePage, Transactions
from api.services.analytics import AnalyticsService, check_range, dagster_graphql_url

READ = problems(400, 401, 403, 422, 429)
MAX_DAYS = 3660


def analytics_service(pool: PoolDep) -> AnalyticsService:
    return AnalyticsService(pool)


ServiceDep = Annotated[AnalyticsService, Depends(analytics_service)]
Currency = Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$", description="ISO 4217 code (any case); all when absent")]
def _iso_day(v: object) -> object:
    """Only `YYYY-MM-DD`: pydantic would also read `0` or `1700000000` as a Unix time, which no caller means."""
    if isinstance(v, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
        raise ValueError("must be a date YYYY-MM-DD")
    return v


Day = Annotated[dt.date, BeforeValidator(_iso_day)]
# Bounded so that date arithmetic (windows of 30/60 days, `to` + 1 day) can never overflow
EARLIEST, LATEST = dt.date(1970, 1, 1), dt.date(9999, 1, 1)
From = Annotated[Day | None, Query(alias="from", ge=EARLIEST, le=LATEST,
                                       description="first UTC day, YYYY-MM-DD (inclusive)")]
To = Annotated[Day | None, Query(ge=EARLIEST, le=LATEST,
                                     description="last UTC day, YYYY-MM-DD (inclusive); default today (UTC)")]
Cursor = Annotated[str | None, Query(max_length=512, pattern=r"^[A-Za-z0-9_-]+$",
                                     description="next_cursor of the previous page")]

router = APIRouter(prefix="/api/analytics", tags=["analytics"], dependencies=[Depends(limit_admin)])


def _window(start: dt.date | None, end: dt.date | None, default_days: int) -> tuple[dt.date, dt.date]:
    end = end or dt.datetime.now(dt.UTC).date()
    return start or end - dt.timedelta(days=default_days - 1), end


@router.get("/dashboard", response_model=Dashboard, responses=READ,
            summary="Per-currency KPIs: MRR (complete and running month), net revenue 30 d vs the 30 d before, "
                    "7-day payment success, churn, open discrepancies; open alerts, webhook backlog, freshness")
def dashboard(_: AdminDep, svc: ServiceDep,
              as_of: Annotated[Day | None, Query(ge=EARLIEST, le=LATEST,
                                                     description="UTC day the windows end on; default today")] = None,
              ) -> dict:
    return svc.dashboard(as_of)


@router.get("/revenue", response_model=RevenuePage, responses=READ,
            summary="Revenue by UTC day or month and settlement currency (revenue_daily / revenue_monthly)")
def revenue(_: AdminDep, svc: ServiceDep, from_: From = None, to: To = None,
            granularity: Literal["day", "month"] = "day", currency: Currency = None,
            limit: Annotated[int, Query(ge=1, le=1000)] = 366, cursor: Cursor = None) -> dict:
    start, end = _window(from_, to, 30 if granularity == "day" else 365)
    _span(start, end)
    return svc.revenue(start, end, granularity, currency and currency.lower(), limit, cursor)


@router.get("/transactions", response_model=Transactions, responses=READ,
            summary="Charge attempts, successes, failures, success rate and top failure codes (marts), and the "
                    "API's own payment attempts with their fraud decisions")
def transactions(_: AdminDep, svc: ServiceDep, from_: From = None, to: To = None, currency: Currency = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100, cursor: Cursor = None) -> dict:
    start, end = _window(from_, to, 30)
    _span(start, end)
    return svc.transactions(start, end, currency and currency.lower(), limit, cursor)


@router.get("/health", response_model=Health, responses=READ,
            summary="API request rate, errors and latency (5/60 min), webhook backlog and lag, worker failures, "
                    "Stripe error rate and circuit, last successful pipeline run per job")
def health(_: AdminDep, svc: ServiceDep, request: Request, settings: SettingsDep) -> dict:
    stats = getattr(request.app.state, "request_stats", None)
    return svc.health(stats, dagster_graphql_url(settings))


@router.get("/alerts", response_model=AlertsPage, responses=READ,
            summary="Open alerts and those resolved in the last `days` days, newest first (analytics.alerts)")
def alerts(_: AdminDep, svc: ServiceDep, days: Annotated[int, Query(ge=1, le=365)] = 7,
           severity: Literal["critical", "error", "warning", "info"] | None = None,
           limit: Annotated[int, Query(ge=1, le=500)] = 100, cursor: Cursor = None) -> dict:
    return svc.alerts(days, severity, limit, cursor)


def _span(start: dt.date, end: dt.date) -> None:
    check_range(start, end)
    if (end - start).days >= MAX_DAYS:
        raise Problem(400, "invalid_range", f"the range is longer than {MAX_DAYS} days; page through shorter ones",
                      errors=[{"loc": ["query", "from"], "msg": f"at most {MAX_DAYS} days before `to`"}])


def install(app: FastAPI) -> None:
    """The analytics routes and their request statistics (Redis buckets when REDIS_URL is set), which the
    request middleware (api/observability.py, installed after this) records into."""
    settings = app.state.settings
    app.state.request_stats = RequestStats(settings.redis_url, prefix=f"{settings.rate_limit_key_prefix}-stats")
    app.include_router(router)
