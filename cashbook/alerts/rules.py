"""Each rule turns one published figure into observations: (rule, scope, value, threshold, breached).

Rules read Postgres (what the pipeline published and what the API wrote) and the raw lake's Parquet files,
never the DuckDB file, so they can run while a pipeline writer holds DuckDB's lock. A rule whose source is
absent (e.g. the billing API never ran) is skipped with a note instead of failing or resolving alerts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import psycopg

from cashbook.alerts.config import AlertsConfig
from cashbook.money import to_major_str, to_minor
from cashbook.paths import SQL_DIR

SQL = SQL_DIR / "postgres" / "alerts"


@dataclass(frozen=True)
class Observation:
    rule: str
    scope: str
    value: float
    threshold: float
    breached: bool
    summary: str
    links: dict[str, str] = field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        return f"cashbook:{self.rule}:{self.scope}"


@dataclass
class RuleContext:
    conn: psycopg.Connection
    config: AlertsConfig
    now: dt.datetime
    lake_dir: Path


class Skipped(Exception):
    """The rule's source does not exist here; it is not evaluated (its alerts are left as they are)."""


def _q(ctx: RuleContext, name: str, params: dict | None = None) -> list[tuple]:
    return ctx.conn.execute((SQL / f"{name}.sql").read_text(), params or {}).fetchall()


def _exists(ctx: RuleContext, table: str) -> bool:
    return bool(ctx.conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0])


def _need(ctx: RuleContext, table: str, why: str) -> None:
    if not _exists(ctx, table):
        raise Skipped(f"{table} does not exist ({why})")


def _admin(ctx: RuleContext, path: str) -> str:
    return ctx.config.api_url.rstrip("/") + path


def _asset(ctx: RuleContext, key: str) -> str:
    return ctx.config.dagster_ui_url.rstrip("/") + f"/assets/{key}"


def payment_success_rate(ctx: RuleContext) -> list[Observation]:
    cfg = ctx.config.rule("payment_success_rate")
    _need(ctx, "analytics.payment_health_daily", "marts not published yet")
    out = []
    for currency, day, attempts, rate in _q(ctx, "latest_payment_health",
                                            {"today": ctx.now.date(), "min_attempts": cfg.min_attempts}):
        rate = float(rate)
        out.append(Observation(
            "payment_success_rate", currency, rate, cfg.threshold, rate < cfg.threshold,
            f"Payment success rate {rate:.1%} on {day} ({currency}, {attempts} attempts) is below {cfg.threshold:.0%}",
            {"asset": _asset(ctx, "marts/payment_health_daily")},
        ))
    return out


def webhook_error_rate(ctx: RuleContext) -> list[Observation]:
    cfg = ctx.config.rule("webhook_error_rate")
    _need(ctx, "webhook_events", "the billing API tables are absent")
    received, errored = _q(ctx, "webhook_error_rate", {"since": ctx.now - dt.timedelta(hours=1)})[0]
    if received < cfg.min_events:
        return [Observation("webhook_error_rate", "all", 0.0, cfg.threshold, False,
                            f"only {received} webhook events in the last hour")]
    rate = errored / received
    return [Observation(
        "webhook_error_rate", "all", rate, cfg.threshold, rate > cfg.threshold,
        f"Webhook processing error rate {rate:.1%} ({errored}/{received} in the last hour) is above {cfg.threshold:.0%}",
        {"admin": _admin(ctx, "/api/admin/webhooks?status=failed")},
    )]


def customer_churn(ctx: RuleContext) -> list[Observation]:
    cfg = ctx.config.rule("customer_churn")
    _need(ctx, "analytics.churn_monthly", "marts not published yet")
    out = []
    for currency, month, rate in _q(ctx, "latest_churn", {"today": ctx.now.date()}):
        rate = float(rate)
        out.append(Observation(
            "customer_churn", currency, rate, cfg.threshold, rate > cfg.threshold,
            f"Customer churn {rate:.1%} in {month:%Y-%m} ({currency}) is above {cfg.threshold:.0%}",
            {"asset": _asset(ctx, "marts/churn_monthly")},
        ))
    return out


def _discrepancy_rows(ctx: RuleContext) -> list[tuple]:
    _need(ctx, "analytics.discrepancies", "reconciliation not published yet")
    return _q(ctx, "open_discrepancies")


def open_discrepancies_count(ctx: RuleContext) -> list[Observation]:
    cfg = ctx.config.rule("open_discrepancies_count")
    return [Observation(
        "open_discrepancies_count", cur, float(n), cfg.threshold, n > cfg.threshold,
        f"{n} open discrepancies in {cur} (threshold {cfg.threshold:.0f})",
        {"admin": _admin(ctx, f"/api/admin/discrepancies?status=open&currency={cur}"),
         "asset": _asset(ctx, "marts/discrepancies")},
    ) for cur, n, _amount in _discrepancy_rows(ctx)]


def open_discrepancies_amount(ctx: RuleContext) -> list[Observation]:
    """Thresholds are in major units per currency (config), compared in that currency's minor units."""
    cfg = ctx.config.rule("open_discrepancies_amount")
    out = []
    for cur, _n, amount in _discrepancy_rows(ctx):
        amount = int(amount)
        if cur == "(none)":
            limit_minor, shown, limit = int(cfg.threshold), str(amount), str(int(cfg.threshold))
        else:
            limit_minor = to_minor(str(cfg.threshold_for(cur)), cur)  # exact, via the decimal string
            shown, limit = to_major_str(amount, cur), to_major_str(limit_minor, cur)
        out.append(Observation(
            "open_discrepancies_amount", cur, float(amount), float(limit_minor), amount > limit_minor,
            f"Open discrepancies total {shown} {cur.upper()} (threshold {limit})",
            {"admin": _admin(ctx, f"/api/admin/discrepancies?status=open&currency={cur}"),
             "asset": _asset(ctx, "marts/discrepancies")},
        ))
    return out


def manual_review_backlog(ctx: RuleContext) -> list[Observation]:
    cfg = ctx.config.rule("manual_review_backlog")
    _need(ctx, "webhook_events", "the billing API tables are absent")
    n = ctx.conn.execute("SELECT count(*) FROM webhook_events WHERE status = 'manual_review'").fetchone()[0]
    return [Observation(
        "manual_review_backlog", "webhooks", float(n), cfg.threshold, n > cfg.threshold,
        f"{n} webhook events wait in manual_review (threshold {cfg.threshold:.0f})",
        {"admin": _admin(ctx, "/api/admin/webhooks?status=manual_review")},
    )]


def stripe_data_stale(ctx: RuleContext) -> list[Observation]:
    cfg = ctx.config.rule("stripe_data_stale")
    files = list((ctx.lake_dir / "stripe_balance_transactions").glob("day=*/data.parquet"))
    if not files:
        raise Skipped("no balance transactions have landed in the lake yet")
    pattern = str(ctx.lake_dir / "stripe_balance_transactions" / "day=*" / "data.parquet")
    newest = duckdb.connect().execute(f"SELECT max(created) FROM read_parquet('{pattern}')").fetchone()[0]
    if newest is None:
        raise Skipped("the lake's balance transaction partitions are all empty")
    hours = (ctx.now.timestamp() - newest) / 3600
    when = dt.datetime.fromtimestamp(newest, dt.UTC).isoformat()
    return [Observation(
        "stripe_data_stale", "balance_transactions", round(hours, 2), cfg.threshold, hours > cfg.threshold,
        f"Newest Stripe balance transaction is {hours:.0f} h old ({when}); threshold {cfg.threshold:.0f} h",
        {"asset": _asset(ctx, "raw/stripe_balance_transactions")},
    )]


def payout_mismatch(ctx: RuleContext) -> list[Observation]:
    """Any open payout_mismatch pages: an unexplained amount above the threshold, or members missing."""
    cfg = ctx.config.rule("payout_mismatch")
    _need(ctx, "analytics.discrepancies", "reconciliation not published yet")
    out = []
    for payout, cur, diff, detail in _q(ctx, "open_payout_mismatches"):
        diff = int(diff or 0)
        what = (f"differs from its balance transactions by {to_major_str(diff, cur)} {cur.upper()}" if diff
                else f"has members missing from its membership ({detail})")
        out.append(Observation(
            "payout_mismatch", payout, float(abs(diff)), cfg.threshold, diff == 0 or abs(diff) > cfg.threshold,
            f"Payout {payout} {what}",
            {"admin": _admin(ctx, f"/api/admin/discrepancies?kind=payout_mismatch&payout_id={payout}"),
             "asset": _asset(ctx, "marts/payout_reconciliation")},
        ))
    return out


def payment_manual_review_observation(ctx_api_url: str, event_id: str, summary: str) -> Observation:
    """One parked payment event; the billing worker pages it at once with the same dedup key."""
    return Observation("payment_manual_review", event_id, 1.0, 0.0, True, summary,
                       {"admin": ctx_api_url.rstrip("/") + "/api/admin/webhooks?status=manual_review"})


def payment_manual_review(ctx: RuleContext) -> list[Observation]:
    """Still parked → still open; once a human re-queued (and the worker booked) it, the alert resolves."""
    _need(ctx, "webhook_events", "the billing API tables are absent")
    return [payment_manual_review_observation(ctx.config.api_url, event_id,
                                              f"Payment needs manual review ({event_type} {event_id}): {error}"[:500])
            for event_id, event_type, error in _q(ctx, "payment_manual_review")]


RULES: dict[str, Callable[[RuleContext], list[Observation]]] = {
    "payment_success_rate": payment_success_rate,
    "webhook_error_rate": webhook_error_rate,
    "customer_churn": customer_churn,
    "open_discrepancies_count": open_discrepancies_count,
    "open_discrepancies_amount": open_discrepancies_amount,
    "manual_review_backlog": manual_review_backlog,
    "stripe_data_stale": stripe_data_stale,
    "payout_mismatch": payout_mismatch,
    "payment_manual_review": payment_manual_review,
}
