"""`/api/admin/*`: finance and on-call views (admin tokens only). Alert links point here."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from api.deps import AdminDep, AuditDep, GatewayDep, PoolDep, SettingsDep, limit_admin
from api.openapi import ADMIN_READ, ADMIN_WRITE, REQUIRED_HEADERS, problems
from api.problems import Problem
from api.schemas.admin import (
    AlertOut,
    AuditGenerateIn,
    AuditGenerateOut,
    AuditReportPage,
    AutofixApplied,
    AutofixApplyIn,
    AutofixPage,
    DecisionIn,
    DiscrepancyOut,
    DiscrepancyPage,
    ManualPaymentIn,
    ManualPaymentOut,
    ManualPaymentPage,
    ReconcileIn,
    ReconcileJobOut,
    RejectIn,
    ResolutionOut,
    ResolveIn,
    WebhookEventOut,
)
from api.services.admin import AdminService
from api.services.admin_audit_report import AuditReports
from api.services.admin_autofix import AutoFix
from api.services.admin_discrepancies import Discrepancies
from api.services.admin_payments import ManualPayments
from api.services.admin_reconcile import ReconcileJobs
from api.services.idempotency import MAX_KEY_LEN, Idempotency


def admin_service(pool: PoolDep) -> AdminService:
    return AdminService(pool)


ServiceDep = Annotated[AdminService, Depends(admin_service)]


def manual_payments(pool: PoolDep, settings: SettingsDep) -> ManualPayments:
    return ManualPayments(pool, settings)


ManualDep = Annotated[ManualPayments, Depends(manual_payments)]


def discrepancies_service(pool: PoolDep) -> Discrepancies:
    return Discrepancies(pool)


DiscrepanciesDep = Annotated[Discrepancies, Depends(discrepancies_service)]


def reconcile_jobs(pool: PoolDep, settings: SettingsDep) -> ReconcileJobs:
    from cashbook.settings import get_settings

    return ReconcileJobs(pool, settings, pool.conninfo, get_settings())


ReconcileDep = Annotated[ReconcileJobs, Depends(reconcile_jobs)]


def audit_reports(pool: PoolDep) -> AuditReports:
    return AuditReports(pool)


ReportsDep = Annotated[AuditReports, Depends(audit_reports)]


def autofix_service(pool: PoolDep, settings: SettingsDep, gateway: GatewayDep) -> AutoFix:
    return AutoFix(pool, settings, gateway)


AutofixDep = Annotated[AutoFix, Depends(autofix_service)]
ReportId = Annotated[str, Path(pattern=r"^rpt_[a-f0-9]{1,64}$")]
JobId = Annotated[str, Path(pattern=r"^job_[a-f0-9]{1,64}$")]


def admin_idempotency(request: Request, pool: PoolDep, admin: AdminDep, settings: SettingsDep,
                      idempotency_key: Annotated[str | None, Header(
                          alias="Idempotency-Key", min_length=1, max_length=MAX_KEY_LEN,
                          description="Required: the same key and body replay the stored answer (24 h, per admin);"
                                      " the same key with another body is 409.")] = None) -> Idempotency:
    """Money-moving admin POSTs require the key (fail closed: a retried click must not pay twice)."""
    if idempotency_key is None:
        raise Problem(400, "idempotency_key_required", "this request moves money: send an Idempotency-Key header")
    # keys are scoped per admin, apart from the same person's billing keys
    return Idempotency(pool, f"admin:{admin.user_id}", idempotency_key, request.method, request.url.path,
                       settings.idempotency_ttl_hours, request.app.state.lease_seconds)


AdminIdempotencyDep = Annotated[Idempotency, Depends(admin_idempotency)]
MpId = Annotated[str, Path(pattern=r"^mp_[A-Za-z0-9]{1,64}$")]
Cursor = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_=-]{1,600}$")]
Limit = Annotated[int, Query(ge=1, le=500)]
# printable text only: a NUL byte cannot reach Postgres (it answered 500 to the fuzzer)
_TEXT = r"^[^\x00-\x1f\x7f]{1,200}$"
DiscrepancyId = Annotated[str, Path(pattern=_TEXT)]
EventId = Annotated[str, Path(pattern=_TEXT)]
Filter = Annotated[str | None, Query(pattern=_TEXT)]
Currency = Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")]
Offset = Annotated[int, Query(ge=0, le=2**63 - 1, description="rows to skip (a Postgres bigint)")]

ADMIN_LIST = problems(400, 401, 403, 422, 429)  # 400: a cursor this API did not return
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
            summary="Every manual resolution and reopening of a discrepancy, oldest first (append-only)")
def resolution_history(discrepancy_id: DiscrepancyId, _: AdminDep, svc: DiscrepanciesDep) -> list[dict]:
    return svc.history(discrepancy_id)


@router.post("/discrepancies/{discrepancy_id}/reopen", status_code=204, responses=ADMIN_WRITE,
             summary="Reopen a resolved discrepancy with a note (kept in the history)")
def reopen(discrepancy_id: DiscrepancyId, body: ResolveIn, admin: AdminDep, svc: DiscrepanciesDep,
           audit: AuditDep) -> None:
    svc.reopen(discrepancy_id, body.note, admin.email or admin.user_id, audit)


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


# -- manual payments (issue 13) -------------------------------------------------------------------------
@router.post("/payments/manual", status_code=201, response_model=ManualPaymentOut, responses=ADMIN_WRITE,
             openapi_extra={REQUIRED_HEADERS: ["Idempotency-Key"]},
             summary="Record a manual payment or adjustment (Idempotency-Key required; four-eyes above the"
                     " approval threshold)")
def create_manual_payment(body: ManualPaymentIn, admin: AdminDep, svc: ManualDep, audit: AuditDep,
                          idem: AdminIdempotencyDep) -> JSONResponse:
    return idem.run(body, lambda op: svc.create(body, admin.user_id, audit, op), 201)


@router.get("/manual-payments", response_model=ManualPaymentPage, responses=ADMIN_LIST,
            summary="Manual payments, newest first (cursor pagination)")
def list_manual_payments(_: AdminDep, svc: ManualDep,
                         status: Literal["recorded", "pending_approval", "rejected"] | None = None,
                         limit: Limit = 100, cursor: Cursor = None) -> ManualPaymentPage:
    return svc.list(status, limit, cursor)


@router.get("/payments/manual/{mp_id}", response_model=ManualPaymentOut, responses=ADMIN_WRITE)
def get_manual_payment(mp_id: MpId, _: AdminDep, svc: ManualDep) -> ManualPaymentOut:
    return svc.get(mp_id)


@router.post("/payments/manual/{mp_id}/approve", response_model=ManualPaymentOut, responses=ADMIN_WRITE,
             summary="Approve a pending payment (a different admin than its creator): writes its ledger row and"
                     " credits")
def approve_manual_payment(mp_id: MpId, admin: AdminDep, svc: ManualDep, audit: AuditDep,
                           body: DecisionIn | None = None) -> ManualPaymentOut:
    return svc.approve(mp_id, admin.user_id, body.note if body else None, audit)


@router.post("/payments/manual/{mp_id}/reject", response_model=ManualPaymentOut, responses=ADMIN_WRITE,
             summary="Reject a pending payment (nothing is written to the ledger)")
def reject_manual_payment(mp_id: MpId, body: RejectIn, admin: AdminDep, svc: ManualDep,
                          audit: AuditDep) -> ManualPaymentOut:
    return svc.reject(mp_id, admin.user_id, body.note, audit)


# -- discrepancy work list (issue 13) -------------------------------------------------------------------
_DAY = r"^\d{4}-\d{2}-\d{2}$"


def _day(text: str | None, name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        raise Problem(422, "bad_range", f"`{name}` is not a calendar day: {text}") from None


@router.get("/payments/discrepancies", response_model=DiscrepancyPage, responses=ADMIN_LIST,
            summary="Discrepancies with filters, sorted by amount or date, cursor pagination")
def discrepancy_page(
        _: AdminDep, svc: DiscrepanciesDep, kind: Filter = None,
        status: Literal["open", "resolved"] | None = None, currency: Currency = None,
        date_from: Annotated[str | None, Query(alias="from", pattern=_DAY, description="UTC day YYYY-MM-DD,"
                                               " inclusive (occurred_at, else first seen)")] = None,
        date_to: Annotated[str | None, Query(alias="to", pattern=_DAY, description="UTC day, inclusive")] = None,
        min_amount: Annotated[int | None, Query(ge=0, le=2**62, description="Minor units: |difference| (or the"
                                                " existing side's amount) at least this")] = None,
        sort: Literal["amount", "date"] = "amount", order: Literal["desc", "asc"] = "desc",
        limit: Limit = 100, cursor: Cursor = None) -> DiscrepancyPage:
    first, last = _day(date_from, "from"), _day(date_to, "to")
    if first and last and last < first:
        raise Problem(422, "bad_range", "`to` is before `from`")
    start = dt.datetime.combine(first, dt.time(), dt.UTC) if first else None
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.UTC) if last else None
    return svc.page(kind=kind, status=status, currency=currency and currency.lower(), date_from=start, date_to=end,
                    min_amount=min_amount, sort=sort, order=order, limit=limit, cursor=cursor)


@router.post("/payments/discrepancies/{discrepancy_id}/resolve", status_code=204, responses=ADMIN_WRITE,
             summary="Resolve with a note (same as /discrepancies/{id}/resolve)")
def resolve_payment_discrepancy(discrepancy_id: DiscrepancyId, body: ResolveIn, admin: AdminDep, svc: ServiceDep,
                                audit: AuditDep) -> None:
    svc.resolve_discrepancy(discrepancy_id, body.note, admin.email or admin.user_id, audit)


@router.post("/payments/discrepancies/{discrepancy_id}/reopen", status_code=204, responses=ADMIN_WRITE,
             summary="Reopen a resolved discrepancy with a note (same as /discrepancies/{id}/reopen)")
def reopen_payment_discrepancy(discrepancy_id: DiscrepancyId, body: ResolveIn, admin: AdminDep,
                               svc: DiscrepanciesDep, audit: AuditDep) -> None:
    svc.reopen(discrepancy_id, body.note, admin.email or admin.user_id, audit)


@router.get("/payments/discrepancies/{discrepancy_id}/history", response_model=list[ResolutionOut],
            responses=ADMIN_WRITE, summary="Resolutions and reopenings, oldest first (append-only)")
def payment_discrepancy_history(discrepancy_id: DiscrepancyId, _: AdminDep, svc: DiscrepanciesDep) -> list[dict]:
    return svc.history(discrepancy_id)


# -- reconcile on demand (issue 13) ---------------------------------------------------------------------
@router.post("/reconcile/payments", status_code=202, response_model=ReconcileJobOut,
             responses={**ADMIN_WRITE, **problems(502)},
             summary="Start a reconciliation (Dagster run when DAGSTER_GRAPHQL_URL is set, else a worker job);"
                     " 409 while one is queued or running")
def start_reconcile(admin: AdminDep, svc: ReconcileDep, audit: AuditDep,
                    body: ReconcileIn | None = None) -> ReconcileJobOut:
    return svc.start(body.as_of if body else None, admin.user_id, audit)


@router.get("/reconcile/payments/{job_id}", response_model=ReconcileJobOut, responses=ADMIN_WRITE,
            summary="Status of a reconciliation; when succeeded, discrepancy counts by kind and currency")
def reconcile_status(job_id: JobId, _: AdminDep, svc: ReconcileDep) -> ReconcileJobOut:
    return svc.get(job_id)


# -- audit reports (issue 13) ---------------------------------------------------------------------------
@router.post("/audit/generate", status_code=201, response_model=AuditGenerateOut, responses=ADMIN_WRITE,
             summary="Generate the audit report of a period (CSV and JSON, SHA-256); same period, same data →"
                     " same bytes")
def generate_audit_report(body: AuditGenerateIn, admin: AdminDep, svc: ReportsDep, audit: AuditDep) -> dict:
    return svc.generate(body.period_from, body.period_to, admin.user_id, audit, body.format)


@router.get("/audit", response_model=AuditReportPage, responses=ADMIN_LIST,
            summary="Generated reports (who, when, period, digests), newest first")
def list_audit_reports(_: AdminDep, svc: ReportsDep, limit: Limit = 100, cursor: Cursor = None) -> AuditReportPage:
    return svc.list(limit, cursor)


def _download(svc: AuditReports, report_id: str, fmt: str, media: str) -> Response:
    body, digest = svc.body(report_id, fmt)
    return Response(body, media_type=media, headers={
        "X-Content-SHA256": digest, "ETag": f'"{digest}"',
        "Content-Disposition": f'attachment; filename="{report_id}.{fmt}"'})


_DOWNLOAD = {200: {"description": "the stored bytes; `X-Content-SHA256` is their digest"}, **ADMIN_WRITE}


@router.get("/audit/{report_id}.csv", response_class=Response, responses=_DOWNLOAD,
            summary="Download the CSV rendering (exactly the hashed bytes)")
def download_audit_csv(report_id: ReportId, _: AdminDep, svc: ReportsDep) -> Response:
    return _download(svc, report_id, "csv", "text/csv; charset=utf-8")


@router.get("/audit/{report_id}.json", response_class=Response, responses=_DOWNLOAD,
            summary="Download the JSON rendering (exactly the hashed bytes)")
def download_audit_json(report_id: ReportId, _: AdminDep, svc: ReportsDep) -> Response:
    return _download(svc, report_id, "json", "application/json")


# -- auto-fix (issue 13) --------------------------------------------------------------------------------
@router.get("/autofix/proposals", response_model=AutofixPage, responses=ADMIN_LIST,
            summary="Dry run: the ledger row auto-fix would write for each open missing_in_ledger discrepancy")
def autofix_proposals(_: AdminDep, svc: AutofixDep, limit: Annotated[int, Query(ge=1, le=100)] = 50,
                      cursor: Cursor = None) -> AutofixPage:
    return svc.proposals(limit, cursor)


@router.post("/autofix/apply", response_model=list[AutofixApplied], responses=ADMIN_WRITE,
             summary="Apply proposals (feature flag CASHBOOK_API_AUTOFIX_ENABLED; 409 when off); exactly once per"
                     " discrepancy, audited, four-eyes above the approval threshold")
def autofix_apply(body: AutofixApplyIn, admin: AdminDep, svc: AutofixDep, payments: ManualDep,
                  audit: AuditDep) -> list[AutofixApplied]:
    return svc.apply(body.discrepancy_ids, admin.user_id, audit, payments)
