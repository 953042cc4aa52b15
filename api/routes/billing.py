"""`/api/billing/*`: JWT bearer auth; every query is scoped to the caller's own user id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from api.deps import BillingDep, IdempotencyDep, UserDep, limit_payment, limit_user
from api.openapi import USER_READ, USER_WRITE, problems
from api.schemas.billing import (
    CancelSubscriptionIn,
    CatalogOut,
    ConfirmPaymentIn,
    ConfirmPaymentOut,
    CreateSubscriptionIn,
    HistoryOut,
    PurchaseIn,
    PurchaseOut,
    StatusOut,
    SubscriptionOut,
)

router = APIRouter(prefix="/api/billing", tags=["billing"], dependencies=[Depends(limit_user)])
_PAYMENT = [Depends(limit_payment)]
_PROBLEMS = USER_WRITE


@router.get("/plans", response_model=CatalogOut, summary="Plans and credit packs (server-side prices)",
            responses=USER_READ)
def plans(svc: BillingDep, user: UserDep) -> CatalogOut:
    return svc.catalog()


@router.post("/create-subscription", dependencies=_PAYMENT, response_model=SubscriptionOut, status_code=201, responses=_PROBLEMS)
def create_subscription(body: CreateSubscriptionIn, svc: BillingDep, user: UserDep, idem: IdempotencyDep) -> JSONResponse:
    return idem.run(body, lambda op: svc.create_subscription(user, body.plan_id, body.payment_method, op), 201)


@router.post("/cancel-subscription", dependencies=_PAYMENT, response_model=SubscriptionOut, responses=_PROBLEMS,
             summary="Cancel at period end (default, access kept until then) or immediately")
def cancel_subscription(svc: BillingDep, user: UserDep, idem: IdempotencyDep,
                        body: CancelSubscriptionIn | None = None) -> JSONResponse:
    body = body or CancelSubscriptionIn()
    return idem.run(body, lambda op: svc.cancel_subscription(user, body.immediately, op))


@router.get("/status", response_model=StatusOut, responses=USER_READ)
def status(svc: BillingDep, user: UserDep) -> StatusOut:
    return svc.status(user)


@router.post("/purchase-resume", dependencies=_PAYMENT, response_model=PurchaseOut, status_code=201, responses=_PROBLEMS,
             summary="Start a credit-pack purchase; returns the PaymentIntent client secret")
def purchase_resume(body: PurchaseIn, svc: BillingDep, user: UserDep, idem: IdempotencyDep) -> JSONResponse:
    return idem.run(body, lambda op: svc.purchase(user, body.pack_id, body.payment_method, op), 201)


@router.post("/confirm-payment", dependencies=_PAYMENT, response_model=ConfirmPaymentOut, responses=_PROBLEMS,
             summary="Confirm (if needed) and settle a credit purchase; credits are granted exactly once")
def confirm_payment(body: ConfirmPaymentIn, svc: BillingDep, user: UserDep, idem: IdempotencyDep) -> JSONResponse:
    return idem.run(body, lambda op: svc.confirm_payment(user, body.payment_intent_id, body.payment_method, op))


@router.get("/history", response_model=HistoryOut, summary="Payment attempts, newest first (cursor pagination)",
            responses={**USER_READ, **problems(400)})
def history(svc: BillingDep, user: UserDep, limit: Annotated[int, Query(ge=1, le=100)] = 20,
            cursor: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_=-]{1,400}$")] = None) -> HistoryOut:
    return svc.history(user, limit, cursor)
