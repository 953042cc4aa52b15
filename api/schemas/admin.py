"""Admin response and request models. Amounts are integer minor units, as everywhere."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DiscrepancyOut(BaseModel):
    discrepancy_id: str
    kind: str
    status: str
    resolution_source: str | None
    stripe_balance_transaction_id: str | None
    stripe_object_id: str | None
    ledger_entry_id: str | None
    payout_id: str | None
    currency: str | None
    stripe_amount: int | None
    ledger_amount: int | None
    difference: int | None
    occurred_at: dt.datetime | None
    detail: str | None
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    resolved_at: dt.datetime | None
    resolution_note: str | None
    resolved_by: str | None


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=3, max_length=2000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$",
                      description="Why this is resolved (kept with the row); no control characters but newlines")


class ResolutionOut(BaseModel):
    """One manual resolution, as recorded (append-only); `previous_*` is what it replaced."""

    resolution_id: int
    discrepancy_id: str
    note: str
    resolved_by: str
    resolved_at: dt.datetime
    previous_status: str
    previous_note: str | None
    previous_resolved_by: str | None


class AlertOut(BaseModel):
    alert_id: int
    rule: str
    dedup_key: str
    scope: str
    severity: str
    status: str
    summary: str
    last_value: float | None
    threshold: float | None
    links: dict[str, Any]
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    paged_at: dt.datetime | None
    resolved_at: dt.datetime | None
    last_page_error: str | None


class WebhookEventOut(BaseModel):
    id: str
    type: str
    status: str
    attempts: int
    last_error: str | None
    received_at: dt.datetime
    processed_at: dt.datetime | None
    next_attempt_at: dt.datetime
