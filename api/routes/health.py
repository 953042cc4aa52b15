"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: Postgres reachable; Stripe as detail)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import GatewayDep, PoolDep
from api.openapi import HEALTH
from cashbook.stripe_gateway import GatewayError

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses=HEALTH)
async def readyz(pool: PoolDep, gateway: GatewayDep) -> JSONResponse:
    def check_pg() -> str:
        with pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")
        return "ok"

    checks: dict[str, str] = {}
    for name, fn in (("postgres", check_pg), ("stripe", gateway.ping)):
        try:
            await run_in_threadpool(fn)
            checks[name] = "ok"
        except GatewayError as exc:
            checks[name] = f"unavailable ({exc.code})"
        except Exception as exc:  # reachability only: report the kind, never the details
            checks[name] = f"unavailable ({type(exc).__name__})"
    circuit = gateway.breaker.snapshot()
    # Only Postgres decides readiness: webhook intake (and every read) works without Stripe, so taking the
    # instance out of the load balancer when Stripe is down would lose webhooks for nothing. Stripe's state
    # is reported as detail ("degraded").
    if checks["postgres"] != "ok":
        return JSONResponse({"status": "unavailable", "checks": checks, "stripe_circuit": circuit}, status_code=503)
    status = "ok" if checks["stripe"] == "ok" else "degraded"
    return JSONResponse({"status": status, "checks": checks, "stripe_circuit": circuit}, status_code=200)
