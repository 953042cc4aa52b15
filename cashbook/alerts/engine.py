"""Evaluate rules, record alerts in Postgres, then page: the alert row exists before any page is sent.

Paging is once per open alert per sink: `delivered` records which sinks accepted the trigger, so a sink that
failed is retried on the next evaluation without paging the others again. Recovered alerts are resolved
and a resolve is sent to every sink that had received the trigger.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from cashbook.alerts.config import AlertsConfig
from cashbook.alerts.rules import RULES, SQL, Observation, RuleContext, Skipped
from cashbook.alerts.sinks import Page, Sink


@dataclass
class EvaluationReport:
    opened: list[str] = field(default_factory=list)
    still_open: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    paged: list[tuple[str, str]] = field(default_factory=list)  # (sink, dedup_key)
    resolves_sent: list[tuple[str, str]] = field(default_factory=list)
    delivery_errors: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    observations: list[Observation] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"opened {len(self.opened)}", f"open {len(self.still_open)}", f"resolved {len(self.resolved)}",
                 f"pages sent {len(self.paged)}"]
        if self.delivery_errors:
            parts.append(f"delivery errors {len(self.delivery_errors)}")
        if self.skipped:
            parts.append("skipped: " + "; ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items())))
        return ", ".join(parts)


def _sql(name: str) -> str:
    return (SQL / f"{name}.sql").read_text()


def record(conn: psycopg.Connection, config: AlertsConfig, observations: list[Observation], evaluated_rules: list[str],
           now: dt.datetime, report: EvaluationReport) -> None:
    """Write the evaluation to analytics.alerts (one transaction)."""
    breached = [o for o in observations if o.breached]
    with conn.transaction():
        for o in breached:
            _alert_id, inserted = conn.execute(_sql("upsert_open"), {
                "rule": o.rule, "dedup_key": o.dedup_key, "scope": o.scope,
                "severity": config.rule(o.rule).severity, "summary": o.summary, "value": o.value,
                "threshold": o.threshold, "links": Jsonb(o.links), "now": now,
            }).fetchone()
            (report.opened if inserted else report.still_open).append(o.dedup_key)
        if evaluated_rules:
            rows = conn.execute(_sql("resolve_recovered"), {
                "now": now, "rules": evaluated_rules, "still_breached": [o.dedup_key for o in breached]}).fetchall()
            if rows:
                keys = conn.execute("SELECT dedup_key FROM analytics.alerts WHERE alert_id = ANY(%s)",
                                    ([r[0] for r in rows],)).fetchall()
                report.resolved.extend(k for (k,) in keys)


def _page_of(row: tuple) -> Page:
    _id, rule, dedup_key, scope, severity, summary, value, threshold, links = row[:9]
    return Page(dedup_key, rule, scope, severity, summary, None if value is None else float(value),
                None if threshold is None else float(threshold), dict(links or {}))


_COLS = "alert_id, rule, dedup_key, scope, severity, summary, last_value, threshold, links"


def deliver(conn: psycopg.Connection, sinks: list[Sink], now: dt.datetime, report: EvaluationReport,
            only: list[str] | None = None) -> None:
    """Send pending triggers and resolves; record each sink's acceptance as it happens.

    `only`: restrict to these dedup keys (a process paging one alert of its own, e.g. the billing worker,
    leaves the others to the sensors).
    """
    pending = conn.execute(f"SELECT {_COLS}, delivered FROM analytics.alerts WHERE status = 'open' "
                           "AND paged_at IS NULL AND (%s::text[] IS NULL OR dedup_key = ANY(%s)) ORDER BY alert_id",
                           (only, only)).fetchall()
    for row in pending:
        page, delivered = _page_of(row), dict(row[9] or {})
        for sink in sinks:
            if sink.name in delivered:
                continue
            try:
                sink.trigger(page)
            except Exception as exc:
                report.delivery_errors.append(f"{sink.name}: {page.dedup_key}: {exc}")
                conn.execute("UPDATE analytics.alerts SET page_attempts = page_attempts + 1, last_page_error = %s "
                             "WHERE alert_id = %s", (f"{sink.name}: {exc}"[:500], row[0]))
                conn.commit()
                continue
            delivered[sink.name] = now.isoformat()
            report.paged.append((sink.name, page.dedup_key))
            conn.execute("UPDATE analytics.alerts SET delivered = %s WHERE alert_id = %s", (Jsonb(delivered), row[0]))
            conn.commit()
        if all(s.name in delivered for s in sinks):
            conn.execute("UPDATE analytics.alerts SET paged_at = %s WHERE alert_id = %s", (now, row[0]))
            conn.commit()

    if only is not None:
        return
    to_resolve = conn.execute(f"SELECT {_COLS}, delivered, resolve_delivered FROM analytics.alerts "
                              "WHERE status = 'resolved' AND resolve_sent_at IS NULL AND delivered <> '{}'::jsonb "
                              "ORDER BY alert_id").fetchall()
    for row in to_resolve:
        page, delivered, done = _page_of(row), dict(row[9] or {}), dict(row[10] or {})
        targets = [s for s in sinks if s.name in delivered]
        for sink in targets:
            if sink.name in done:
                continue
            try:
                sink.resolve(page)
            except Exception as exc:
                report.delivery_errors.append(f"{sink.name}: resolve {page.dedup_key}: {exc}")
                continue
            done[sink.name] = now.isoformat()
            report.resolves_sent.append((sink.name, page.dedup_key))
            conn.execute("UPDATE analytics.alerts SET resolve_delivered = %s WHERE alert_id = %s",
                         (Jsonb(done), row[0]))
            conn.commit()
        if all(s.name in done for s in targets):
            conn.execute("UPDATE analytics.alerts SET resolve_sent_at = %s WHERE alert_id = %s", (now, row[0]))
            conn.commit()


def evaluate_and_page(pg_url: str, lake_dir: Path, config: AlertsConfig, sinks: list[Sink], *,
                      rules: list[str] | None = None, now: dt.datetime | None = None) -> EvaluationReport:
    """Run the enabled rules (or a subset), record alerts, deliver pages."""
    now = now or dt.datetime.now(dt.UTC)
    report = EvaluationReport()
    names = [r for r in (rules or list(RULES)) if r in RULES and config.rule(r).enabled]
    with psycopg.connect(pg_url) as conn:
        ctx = RuleContext(conn=conn, config=config, now=now, lake_dir=lake_dir)
        observations: list[Observation] = []
        evaluated: list[str] = []
        for name in names:
            try:
                observations.extend(RULES[name](ctx))
            except Skipped as why:
                report.skipped[name] = str(why)
                conn.rollback()
                continue
            evaluated.append(name)
        report.observations = observations
        record(conn, config, observations, evaluated, now, report)
        deliver(conn, sinks, now, report)
    return report


def record_run_status(pg_url: str, config: AlertsConfig, sinks: list[Sink], *, job: str, failed: bool,
                      run_url: str, error: str = "", now: dt.datetime | None = None) -> EvaluationReport:
    """pipeline_run_failed: a failed run opens (or keeps) the job's alert; its next success resolves it."""
    now = now or dt.datetime.now(dt.UTC)
    report = EvaluationReport()
    if not config.rule("pipeline_run_failed").enabled:
        return report
    obs = Observation("pipeline_run_failed", job, 1.0 if failed else 0.0, 0.0, failed,
                      f"Dagster run of {job} failed: {error[:300]}" if failed else f"{job} succeeded",
                      {"run": run_url})
    with psycopg.connect(pg_url) as conn:
        if failed:
            record(conn, config, [obs], [], now, report)
        else:  # resolve only this job's alert
            with conn.transaction():
                rows = conn.execute("UPDATE analytics.alerts SET status = 'resolved', resolved_at = %s "
                                    "WHERE status = 'open' AND dedup_key = %s RETURNING dedup_key",
                                    (now, obs.dedup_key)).fetchall()
                report.resolved.extend(k for (k,) in rows)
        deliver(conn, sinks, now, report)
    return report
