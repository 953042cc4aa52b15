"""Billing request/response models. Clients name catalog ids; the server sets every amount."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an `amount` sent by a client is an error, not ignored


# Ids are checked for shape before anything reaches Stripe or SQL (a fuzzer's free text used to reach Stripe)
CatalogId = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$", description="a catalog id, e.g. pro_monthly")]
PaymentMethodId = Annotated[str, Field(pattern=r"^pm_[A-Za-z0-9_]{1,200}$", description="Stripe PaymentMethod id (pm_…)")]
PaymentIntentId = Annotated[str, Field(pattern=r"^pi_[A-Za-z0-9_]{1,200}$", description="Stripe PaymentIntent id (pi_…)")]


class PlanOut(BaseModel):
    id: str
    name: str
    amount: int = Field(description="minor units")
    amount_display: str
    currency: str
    interval: str


class CreditPackOut(BaseModel):
    id: str
    name: str
    credits: int
    amount: int
    amount_display: str
    currency: str


class CatalogOut(BaseModel):
    plans: list[PlanOut]
    credit_packs: list[CreditPackOut]


class CreateSubscriptionIn(_In):
    plan_id: CatalogId
    payment_method: PaymentMethodId | None = None


class SubscriptionOut(BaseModel):
    subscription_id: str
    plan_id: str | None
    status: str
    cancel_at_period_end: bool
    current_period_end: dt.datetime | None
    has_access: bool


class CancelSubscriptionIn(_In):
    immediately: bool = Field(default=False, description="cancel now instead of at period end")


class StatusOut(BaseModel):
    user_id: str
    plan_id: str | None
    status: str
    subscription_id: str | None
    cancel_at_period_end: bool
    current_period_end: dt.datetime | None
    has_access: bool
    dunning_attempts: int
    credits: int


class PurchaseIn(_In):
    pack_id: CatalogId
    payment_method: PaymentMethodId | None = None


class PurchaseOut(BaseModel):
    payment_intent_id: str
    client_secret: str | None
    status: str
    pack_id: str
    credits: int
    amount: int
    amount_display: str
    currency: str


class ConfirmPaymentIn(_In):
    payment_intent_id: PaymentIntentId
    payment_method: PaymentMethodId | None = None


class ConfirmPaymentOut(BaseModel):
    payment_intent_id: str
    status: str
    credits_granted: bool = Field(description="true only for the call that granted the credits")
    credits: int


class HistoryItem(BaseModel):
    id: str
    kind: str
    stripe_id: str | None
    amount: int
    amount_display: str
    currency: str
    status: str
    created_at: dt.datetime


class HistoryOut(BaseModel):
    items: list[HistoryItem]
    next_cursor: str | None


class WebhookAck(BaseModel):
    received: bool
    duplicate: bool
