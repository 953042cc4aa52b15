"""Billing request/response models. Clients name catalog ids; the server sets every amount."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an `amount` sent by a client is an error, not ignored


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
    plan_id: str
    payment_method: str | None = Field(default=None, description="Stripe PaymentMethod id (pm_…)")


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
    pack_id: str
    payment_method: str | None = None


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
    payment_intent_id: str
    payment_method: str | None = None


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
