"""`/api/admin/*`: finance and on-call views (admin tokens only). Alert links point here."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from api.deps import AdminDep, AuditDep, PoolDep, limit_admin
from api.openapi import ADMIN_READ, ADMIN_WRITE
from api.schemas.admin import AlertOut, DiscrepancyOut, ResolutionOut, ResolveIn, WebhookEventOut
from api.services.admin import AdminService


def admin_service(pool: PoolDep) -> AdminService:
    return AdminService(pool)


ServiceDep = Annotated[AdminService, Depends(admin_service)]
Limit = Annotated[int, Query(ge=1, le=500)]
# printable text only: a NUL byte cannot reach Postgres (it answered 500 to the fuzzer)
_TEXT = r"^[^\x00-\x1f\x7f]{1,200}$"
DiscrepancyId = Annotated[str, Path(pattern=_TEXT)]
EventId = Annotated[str, Path(pattern=_TEXT)]
Filter = Annotated[str | None, Query(pattern=_TEXT)]
Currency = Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")]
Offset = Annotated[int, Query(ge=0, le=2**63 - 1, description="rows to skip (a Postgres bigint)")]

router = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[Depends(limit_admin)])


@router.get("/discrepancies", response_model=list[DiscrepancyOut], summary="Reconciliation discrepancies, largest first",
            responses=ADMIN_READ)
def discrepancies(_: AdminDep, svc: ServiceDep, status: Literal["open", "resolved"] | None = None,
                  kind: Filter = None, currency: Currency = None, payout_id: Filter = None,
                  limit: Limit = 100, offset: Offset = 0) -> list[dict]:
    return svc.discrepancies(status=status, kind=kind, currency=currency and currency.lower(),
                             payout_id=payout_id, limit=limit, offset=offset)


@router.post("/discrepancies/{discrepancy_id}/resolve", status_code=204, responses=ADMIN_WRITE,
             summary="Resolve by hand (again: the earlier resolution stays in the history); later runs keep it")
def resolve(discrepancy_id: DiscrepancyId, body: ResolveIn, admin: AdminDep, svc: ServiceDep, audit: AuditDep) -> None:
    svc.resolve_discrepancy(discrepancy_id, body.note, admin.email or admin.user_id, audit)


@router.get("/discrepancies/{discrepancy_id}/history", response_model=list[ResolutionOut], responses=ADMIN_WRITE,
            summary="Every manual resolution of a discrepancy, oldest first (append-only)")
def resolution_history(discrepancy_id: DiscrepancyId, _: AdminDep, svc: ServiceDep) -> list[dict]:
    return svc.resolution_history(discrepancy_id)


@router.get("/alerts", response_model=list[AlertOut], responses=ADMIN_READ)
def alerts(_: AdminDep, svc: ServiceDep, status: Literal["open", "resolved"] | None = None,
           limit: Limit = 100, offset: Offset = 0) -> list[dict]:
    return svc.alerts(status=status, limit=limit, offset=offset)


@router.get("/webhooks", response_model=list[WebhookEventOut], responses=ADMIN_READ)
def webhooks(_: AdminDep, svc: ServiceDep,
             status: Literal["pending", "processed", "ignored", "failed", "manual_review"] | None = None,
             limit: Limit = 100, offset: Offset = 0) -> list[dict]:
    return svc.webhooks(status=status, limit=limit, offset=offset)


@router.post("/webhooks/{event_id}/requeue", status_code=204, summary="Send a parked event back to the worker",
             responses=ADMIN_WRITE)
def requeue(event_id: EventId, _: AdminDep, svc: ServiceDep, audit: AuditDep) -> None:
    svc.requeue_webhook(event_id, audit)
