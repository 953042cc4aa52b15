"""Admin response and request models. Amounts are integer minor units, as everywhere."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from api.schemas.common import Instant


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
    """One manual resolution or reopening, as recorded (append-only); `previous_*` is what it replaced."""

    resolution_id: int
    discrepancy_id: str
    action: Literal["resolve", "reopen"] = "resolve"
    note: str
    resolved_by: str
    resolved_at: dt.datetime
    previous_status: str
    previous_note: str | None
    previous_resolved_by: str | None


class DiscrepancyPage(BaseModel):
    items: list[DiscrepancyOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


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
    first_seen_at: Instant
    last_seen_at: Instant
    paged_at: Instant | None
    resolved_at: Instant | None
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


# -- manual payments (issue 13) ---------------------------------------------------------------------------
_NOTE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def _iso_text(v: object) -> object:
    """Dates and times arrive as ISO 8601 strings; a number (a Unix time pydantic would accept) is refused."""
    if v is not None and not isinstance(v, str):
        raise ValueError("must be an ISO 8601 string")
    return v


class ManualPaymentIn(BaseModel):
    """DESIGN.md Contract 4. `type` defaults to `payment` when a Stripe id is given, else `manual_adjustment`.

    Strict: money is a JSON integer, never a string or a float that happens to be whole."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    amount: int = Field(description="Signed integer minor units (a payment is positive); never 0",
                        ge=-(2**62), le=2**62)
    currency: str = Field(pattern=r"^[A-Za-z]{3}$", description="ISO 4217, any case (stored lower-case)")
    reason: str = Field(min_length=3, max_length=2000, pattern=_NOTE)
    credits: int | None = Field(default=None, ge=-(2**62), le=2**62, description="Credits to grant (or take back)")
    stripe_id: str | None = Field(default=None, pattern=r"^(ch|py|pi|in|re|dp|txn)_[A-Za-z0-9_]{1,200}$",
                                  description="The Stripe object this payment records (matched by reconciliation)")
    type: Literal["payment", "manual_adjustment"] | None = None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, min_length=3, max_length=2000, pattern=_NOTE)


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=3, max_length=2000, pattern=_NOTE, description="Why it is rejected")


class ManualPaymentOut(BaseModel):
    id: str
    user_id: str
    type: str
    amount: int
    currency: str
    reason: str
    credits: int | None
    stripe_id: str | None
    occurred_at: dt.datetime | None = Field(description="The ledger row's time (null until it is written)")
    source: str
    discrepancy_id: str | None
    status: Literal["recorded", "pending_approval", "rejected"]
    created_by: str
    created_at: dt.datetime
    approved_by: str | None
    approved_at: dt.datetime | None
    rejected_by: str | None
    rejected_at: dt.datetime | None
    decision_note: str | None
    ledger_entry_id: str | None


class ManualPaymentPage(BaseModel):
    items: list[ManualPaymentOut]
    next_cursor: str | None


# -- reconcile on demand (issue 13) --------------------------------------------------------------------------
class ReconcileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: AwareDatetime | None = Field(default=None, description="ISO 8601 with offset; default now (UTC). The"
                                        " worker path only: a Dagster run reconciles as of its own start")

    @field_validator("as_of", mode="before")
    @classmethod
    def _text(cls, v: object) -> object:
        return _iso_text(v)


class ReconcileCount(BaseModel):
    kind: str
    currency: str | None
    count: int
    open: int = Field(description="Of which still open after this run (manual resolutions stand)")
    difference: int = Field(description="Sum of `difference`, minor units of `currency`")


class ReconcileJobOut(BaseModel):
    job_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    runner: Literal["worker", "dagster"]
    requested_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    dagster_run_id: str | None
    ui_url: str | None = Field(description="The run in the Dagster UI (Dagster runner)")
    as_of: dt.datetime | None
    counts: list[ReconcileCount] | None = Field(description="When succeeded: discrepancies found by kind and currency")
    summary: dict[str, int] | None = Field(description="When succeeded (worker): found, new, auto_resolved, open")
    error: str | None


# -- audit reports (issue 13) -------------------------------------------------------------------------------
class AuditGenerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    period_from: dt.date = Field(alias="from", description="First UTC day, inclusive (YYYY-MM-DD)")
    period_to: dt.date = Field(alias="to", description="Last UTC day, inclusive (YYYY-MM-DD)")
    format: Literal["csv", "json"] = "json"

    @field_validator("period_from", "period_to", mode="before")
    @classmethod
    def _text(cls, v: object) -> object:
        return _iso_text(v)


class AuditGenerateOut(BaseModel):
    report_id: str
    format: Literal["csv", "json"]
    sha256: str = Field(description="SHA-256 (hex) of exactly the bytes `download_url` returns")
    download_url: str
    sha256_csv: str
    sha256_json: str
    counts: dict[str, int] = Field(description="Rows per section")


class AuditReportOut(BaseModel):
    report_id: str
    period_from: dt.date
    period_to: dt.date
    generated_by: str
    generated_at: dt.datetime
    csv_sha256: str
    json_sha256: str
    counts: dict[str, int]
    csv_url: str
    json_url: str


class AuditReportPage(BaseModel):
    items: list[AuditReportOut]
    next_cursor: str | None


# -- auto-fix (issue 13) -------------------------------------------------------------------------------------
class AutofixProposal(BaseModel):
    """The ledger row auto-fix would write for one `missing_in_ledger` discrepancy (or why it would not)."""

    discrepancy_id: str
    stripe_object_id: str
    stripe_amount: int | None
    discrepancy_currency: str | None
    eligible: bool
    reason: str | None = Field(default=None, description="Why not eligible: webhook_processed, webhook_pending,"
                               " stripe_object_unavailable, unknown_user, our_purchase_requeue_webhook,"
                               " unsupported_object, already_in_ledger")
    source: Literal["webhook_payload", "stripe"] | None = None
    webhook_event_id: str | None = None
    user_id: str | None = None
    customer_id: str | None = None
    type: Literal["payment", "refund", "dispute", "dispute_reversal"] | None = None
    amount: int | None = None
    currency: str | None = None
    stripe_id: str | None = None
    occurred_at: dt.datetime | None = None


class AutofixPage(BaseModel):
    enabled: bool = Field(description="CASHBOOK_API_AUTOFIX_ENABLED: false means this is a dry run only")
    items: list[AutofixProposal]
    next_cursor: str | None


class AutofixApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    discrepancy_ids: list[Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f]{1,200}$")]] = Field(
        min_length=1, max_length=100)


class AutofixApplied(BaseModel):
    discrepancy_id: str
    applied: bool
    reason: str | None = None
    manual_payment_id: str | None = None
    status: str | None = None
    ledger_entry_id: str | None = None
