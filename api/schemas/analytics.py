"""Response models of `/api/analytics/*` (admin only).

Figures carry the names of the published marts' columns (DESIGN Contract 4). Money is an integer in the minor
unit of the object's `currency`; rates are fractions (0.05 = 5 %), null when their denominator is 0; days and
months are ISO dates (UTC), instants ISO 8601 UTC timestamps.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from api.schemas.admin import AlertOut
from api.schemas.common import Instant


class Freshness(BaseModel):
    newest_balance_transaction_day: dt.date | None = Field(
        description="Newest UTC day with balance transactions in the published marts (null: nothing published)")
    age_hours: float | None = Field(description="Hours since the end of that day: the data is at least this old")
    max_age_hours: float = Field(description="FRESHNESS_MAX_AGE_HOURS: older data is stale")
    stale: bool = Field(description="True when nothing is published or the data is older than max_age_hours")


class MrrFigure(BaseModel):
    month: dt.date
    mrr: int
    arr: int
    customers: int
    arpa: int | None
    is_complete: bool = Field(description="false: the running month, provisional (renewals not yet invoiced)")


class MrrPair(BaseModel):
    latest_complete: MrrFigure | None
    running: MrrFigure | None = Field(description="The as-of month; provisional while is_complete is false")


class DateWindow(BaseModel):
    """An inclusive range of UTC days; `from` is a Python keyword, hence the alias."""

    from_: dt.date = Field(alias="from", serialization_alias="from")
    to: dt.date


class RevenueWindow(DateWindow):
    net: int
    gross: int


class NetRevenue(BaseModel):
    last_30_days: RevenueWindow
    previous_30_days: RevenueWindow
    change: int = Field(description="last_30_days.net − previous_30_days.net")
    change_rate: float | None = Field(description="change ÷ |previous net|; null when the previous net is 0")


class SuccessRate(DateWindow):
    attempts: int
    succeeded: int
    failed: int
    success_rate: float | None


class Churn(BaseModel):
    month: dt.date
    previous_customers: int
    churned_customers: int
    customer_churn_rate: float | None
    previous_mrr: int
    churned_mrr: int
    contraction_mrr: int
    gross_mrr_churn_rate: float | None
    net_mrr_churn_rate: float | None


class OpenDiscrepancies(BaseModel):
    count: int = Field(description="open discrepancies, pending ones excluded (they clear by themselves)")
    amount: int = Field(description="Σ |difference| of those, minor units")
    pending_count: int


class CurrencyDashboard(BaseModel):
    currency: str
    mrr: MrrPair
    net_revenue: NetRevenue
    payment_success_7_days: SuccessRate
    churn: Churn | None = Field(description="Churn of the latest complete month")
    open_discrepancies: OpenDiscrepancies


class WebhookBacklog(BaseModel):
    pending: int
    failed: int = Field(description="failed, waiting for a retry")
    manual_review: int
    oldest_waiting_received_at: Instant | None
    lag_seconds: float | None = Field(description="age of the oldest waiting event; null when none waits")


class Dashboard(BaseModel):
    as_of: Instant = Field(description="when this answer was computed (UTC)")
    as_of_date: dt.date = Field(description="the UTC day the windows end on")
    latest_complete_month: dt.date | None
    freshness: Freshness
    currencies: list[CurrencyDashboard]
    open_alerts: dict[str, int] = Field(description="open alerts by severity (critical, error, warning, info)")
    webhook_backlog: WebhookBacklog


class RevenueRow(BaseModel):
    period: dt.date = Field(description="the UTC day, or the first day of the UTC month")
    currency: str
    gross: int
    refunds: int
    disputes: int
    other: int
    fees: int
    net: int
    payouts: int
    charge_count: int
    refund_count: int
    dispute_count: int
    dispute_reversal_count: int
    other_count: int
    payout_count: int
    balance_transaction_count: int


class RevenuePage(BaseModel):
    granularity: str
    from_: dt.date = Field(alias="from", serialization_alias="from")
    to: dt.date
    currency: str | None
    items: list[RevenueRow]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class FailureCode(BaseModel):
    code: str
    count: int


class ChargeHealth(BaseModel):
    currency: str = Field(description="presentment currency")
    attempts: int
    succeeded: int
    failed: int
    pending: int
    success_rate: float | None
    top_failure_codes: list[FailureCode] = Field(
        description="codes summed over each day's top three (payment_health_daily keeps three per day)")


class ApiAttemptSummary(BaseModel):
    currency: str
    attempts: int
    succeeded: int
    failed: int
    blocked: int
    manual_review: int
    succeeded_amount: int
    risk_decisions: dict[str, int] = Field(description="allow, review, block, unscored")


class ApiAttempt(BaseModel):
    id: str
    user_id: str | None
    kind: str
    stripe_id: str | None
    amount: int
    currency: str
    status: str
    failure_message: str | None
    risk_score: int | None
    risk_decision: str | None
    risk_reasons: Any | None
    created_at: Instant
    updated_at: Instant


class Transactions(BaseModel):
    from_: dt.date = Field(alias="from", serialization_alias="from")
    to: dt.date
    currency: str | None
    charges: list[ChargeHealth] = Field(description="from the pipeline's payment_health_daily (Stripe charges)")
    api_attempts: list[ApiAttemptSummary] = Field(description="the API's own payment_attempts, per currency")
    items: list[ApiAttempt] = Field(description="the API's payment attempts, newest first, one page")
    next_cursor: str | None


class RequestWindow(BaseModel):
    minutes: int
    requests: int
    requests_per_second: float
    client_errors: int
    server_errors: int
    error_rate: float | None = Field(description="5xx ÷ requests")
    latency_ms: dict[str, float | None] = Field(description="p50/p95/p99: upper bound of the histogram bucket")
    billing_requests: int
    stripe_failures: int = Field(description="billing requests answered 502/503 because Stripe failed or was away")
    stripe_error_rate: float | None


class RequestHealth(BaseModel):
    source: str = Field(description="redis (all API processes) or process (this process only: Redis unavailable)")
    windows: list[RequestWindow]


class WebhookHealth(WebhookBacklog):
    processed_last_hour: int
    processing_p50_seconds: float | None
    processing_p95_seconds: float | None


class WorkerHealth(BaseModel):
    webhooks_failed_last_hour: int
    webhooks_manual_review: int
    emails_failed: int
    errors_last_hour: int
    errors_last_24_hours: int


class PipelineRun(BaseModel):
    job: str
    run_id: str
    ended_at: Instant | None


class PipelineHealth(BaseModel):
    source: str = Field(description="dagster (its GraphQL API answered) or freshness (not configured/unreachable)")
    dagster_error: str | None = None
    last_successful_runs: list[PipelineRun]
    freshness: Freshness


class Health(BaseModel):
    as_of: Instant
    requests: RequestHealth
    webhooks: WebhookHealth
    workers: WorkerHealth
    stripe_circuits: dict[str, dict[str, Any]] = Field(description="circuit breakers by name (state, failures, …)")
    pipeline: PipelineHealth


class AlertItem(AlertOut):
    """The same row as the admin alert list (api/schemas/admin.py): one model, one answer."""


class AlertsPage(BaseModel):
    days: int
    open_count: int
    resolved_count: int = Field(description="resolved within the last `days` days")
    items: list[AlertItem]
    next_cursor: str | None
