"""Alerts end to end: real Postgres, a real HTTP receiver standing in for PagerDuty and Slack."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cashbook.alerts.config import AlertsConfig, load_alerts_config
from cashbook.alerts.engine import EvaluationReport, evaluate_and_page, record_run_status
from cashbook.alerts.sinks import LogSink, PagerDutySink, Sink, SlackSink
from cashbook.db.migrate import migrate
from cashbook.discrepancy_lifecycle import publish_discrepancies
from tests.discrepancy_rows import discrepancy, discrepancy_table
from tests.integration.http_receiver import Receiver

NOW = dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC)
ROUTING_KEY = "R0UT1NGKEY0123456789012345678901"


def _disc(kind: str, ident: str, diff: int, payout: str | None = None) -> dict:
    """What the alert rules read: kind, difference, payout; no ids or amounts."""
    return discrepancy(ident, kind, difference=diff, stripe_amount=None, stripe_balance_transaction_id=None,
                       stripe_object_id=None, ledger_entry_id=None, payout_id=payout, occurred_at=NOW, detail="")


def _publish(url: str, rows: list[dict], run: str) -> None:
    publish_discrepancies(url, discrepancy_table(rows), run_id=run, seen_at=NOW)


# (database URL, alert config, sinks, the pager receiver, lake directory)
AlertsEnv = tuple[str, AlertsConfig, list[Sink], Receiver, Path]


@pytest.fixture()
def env(pg_url: str, tmp_path: Path) -> Iterator[AlertsEnv]:
    migrate(pg_url)
    with Receiver() as rx:
        config = load_alerts_config(env={
            "PAGERDUTY_ROUTING_KEY": ROUTING_KEY, "PAGERDUTY_EVENTS_URL": rx.url + "/v2/enqueue",
            "SLACK_WEBHOOK_URL": rx.url + "/slack", "CASHBOOK_API_URL": "http://127.0.0.1:8000",
        })
        sinks = [LogSink(), PagerDutySink(ROUTING_KEY, rx.url + "/v2/enqueue"), SlackSink(rx.url + "/slack")]
        yield pg_url, config, sinks, rx, tmp_path / "lake"


def _evaluate(env: AlertsEnv, **kw: Any) -> EvaluationReport:
    url, config, sinks, _rx, lake = env
    return evaluate_and_page(url, lake, config, sinks, rules=["payout_mismatch", "open_discrepancies_amount"],
                             now=kw.pop("now", NOW), **kw)


def test_page_once_resolve_on_recovery_exact_payloads(env: AlertsEnv) -> None:
    url, _config, _sinks, rx, _ = env
    _publish(url, [_disc("payout_mismatch", "d1", 2500, "po_123")], "run1")

    report = _evaluate(env)
    assert report.opened == ["cashbook:payout_mismatch:po_123"]
    pd = rx.bodies("/v2/enqueue")
    assert pd == [{
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "cashbook:payout_mismatch:po_123",
        "payload": {
            "summary": "Payout po_123 differs from its balance transactions by 25.00 USD",
            "source": "cashbook",
            "severity": "critical",
            "component": "payout_mismatch",
            "group": "cashbook",
            "class": "payout_mismatch",
            "custom_details": {"scope": "po_123", "value": 2500.0, "threshold": 0.0},
        },
        "links": [
            {"href": "http://127.0.0.1:8000/api/admin/discrepancies?kind=payout_mismatch&payout_id=po_123",
             "text": "admin"},
            {"href": "http://127.0.0.1:3000/assets/marts/payout_reconciliation", "text": "asset"},
        ],
    }]
    slack = rx.bodies("/slack")
    assert len(slack) == 1 and slack[0]["text"].startswith(
        ":rotating_light: [CRITICAL] Payout po_123 differs from its balance transactions by 25.00 USD")

    for i in range(3):  # still breached: no new page
        again = _evaluate(env, now=NOW + dt.timedelta(minutes=10 * (i + 1)))
        assert again.still_open == ["cashbook:payout_mismatch:po_123"] and again.paged == []
    assert len(rx.bodies("/v2/enqueue")) == 1 and len(rx.bodies("/slack")) == 1

    _publish(url, [], "run2")  # the payout now reconciles
    report = _evaluate(env, now=NOW + dt.timedelta(hours=1))
    assert report.resolved == ["cashbook:payout_mismatch:po_123"]
    assert rx.bodies("/v2/enqueue")[-1] == {"routing_key": ROUTING_KEY, "event_action": "resolve",
                                            "dedup_key": "cashbook:payout_mismatch:po_123"}
    assert rx.bodies("/slack")[-1]["text"].startswith(":white_check_mark: [RESOLVED] payout_mismatch (po_123)")
    _evaluate(env, now=NOW + dt.timedelta(hours=2))
    assert len(rx.bodies("/v2/enqueue")) == 2 and len(rx.bodies("/slack")) == 2  # resolve sent once

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT status, paged_at IS NOT NULL, resolved_at IS NOT NULL, resolve_sent_at IS NOT NULL, "
                           "last_value, threshold FROM analytics.alerts").fetchall()
    assert row == [("resolved", True, True, True, 2500, 0)]


def test_sink_failure_is_retried_and_never_loses_the_alert(env: AlertsEnv) -> None:
    url, _config, _sinks, rx, _ = env
    _publish(url, [_disc("amount_mismatch", "d2", 250_000)], "run1")

    rx.fail_next = 1  # one 500: tenacity retries inside the same evaluation
    report = _evaluate(env)
    assert report.delivery_errors == []
    assert [b["event_action"] for b in rx.bodies("/v2/enqueue")] == ["trigger", "trigger"]  # failed, then retried

    _publish(url, [_disc("amount_mismatch", "d2", 250_000), _disc("payout_mismatch", "d3", 7, "po_9")], "run2")
    rx.fail_next = 100  # the receiver is down for longer than the retries
    report = _evaluate(env, now=NOW + dt.timedelta(minutes=5))
    assert report.delivery_errors and report.opened == ["cashbook:payout_mismatch:po_9"]
    with psycopg.connect(url) as conn:
        paged = conn.execute("SELECT dedup_key, paged_at IS NOT NULL, status FROM analytics.alerts "
                             "ORDER BY dedup_key").fetchall()
    assert ("cashbook:payout_mismatch:po_9", False, "open") in paged  # recorded, waiting for the pager

    rx.fail_next = 0
    before_slack = len([b for b in rx.bodies("/slack") if "po_9" in b["text"]])
    report = _evaluate(env, now=NOW + dt.timedelta(minutes=10))
    assert ("pagerduty", "cashbook:payout_mismatch:po_9") in report.paged
    triggers = [b for b in rx.bodies("/v2/enqueue") if b.get("dedup_key") == "cashbook:payout_mismatch:po_9"
                and b["event_action"] == "trigger"]
    assert len(triggers) > 1  # the failed attempts plus the one that got through
    # Slack is also down while PagerDuty was down (same receiver), so both deliver exactly once now
    assert len([b for b in rx.bodies("/slack") if "po_9" in b["text"]]) >= before_slack + 1
    _evaluate(env, now=NOW + dt.timedelta(minutes=15))
    assert [b for b in rx.bodies("/v2/enqueue") if b.get("dedup_key") == "cashbook:payout_mismatch:po_9"][-1] \
        == triggers[-1]  # nothing new after delivery


def test_run_failure_alert_opens_and_resolves(env: AlertsEnv) -> None:
    url, config, sinks, rx, _ = env
    r1 = record_run_status(url, config, sinks, job="raw_daily", failed=True, run_url="http://127.0.0.1:3000/runs/abc",
                           error="boom", now=NOW)
    assert r1.opened == ["cashbook:pipeline_run_failed:raw_daily"]
    r2 = record_run_status(url, config, sinks, job="raw_daily", failed=True, run_url="http://127.0.0.1:3000/runs/def",
                           error="boom again", now=NOW)
    assert r2.still_open == ["cashbook:pipeline_run_failed:raw_daily"] and r2.paged == []
    r3 = record_run_status(url, config, sinks, job="raw_daily", failed=False, run_url="x", now=NOW)
    assert r3.resolved == ["cashbook:pipeline_run_failed:raw_daily"]
    actions = [b["event_action"] for b in rx.bodies("/v2/enqueue")]
    assert actions == ["trigger", "resolve"]


def test_config_env_override_and_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    from cashbook.settings import SettingsError

    cfg = load_alerts_config(env={"ALERT_PAYMENT_SUCCESS_RATE_THRESHOLD": "0.9"})
    assert cfg.rule("payment_success_rate").threshold == 0.9
    assert cfg.rule("stripe_data_stale").threshold == 36
    with pytest.raises(SettingsError, match="ALERT_CUSTOMER_CHURN_THRESHOLD"):
        load_alerts_config(env={"ALERT_CUSTOMER_CHURN_THRESHOLD": "ten percent"})


def test_churn_rule_ignores_the_running_month(pg_url: str, tmp_path: Path) -> None:
    migrate(pg_url)
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE analytics.churn_monthly (month date, currency text, customer_churn_rate double precision)")
        conn.execute("INSERT INTO analytics.churn_monthly VALUES ('2025-05-01', 'usd', 0.04), ('2025-06-01', 'usd', 0.12), "
                     "('2025-07-01', 'usd', 0.30)")  # July is still running on 2025-07-20: provisional
    config = load_alerts_config(env={})
    report = evaluate_and_page(pg_url, tmp_path, config, [LogSink()], rules=["customer_churn"],
                               now=dt.datetime(2025, 7, 20, tzinfo=dt.UTC))
    assert [(o.scope, o.value, o.breached) for o in report.observations] == [("usd", 0.12, True)]
    assert "in 2025-06 (usd)" in report.observations[0].summary


def test_amount_thresholds_are_major_units_per_currency(pg_url: str, tmp_path: Path) -> None:
    migrate(pg_url)
    rows = []
    for cur, diff in (("usd", 100_001), ("jpy", 140_000), ("kwd", 1_000_001)):
        rows.append({**_disc("amount_mismatch", f"d-{cur}", diff), "currency": cur})
    rows.append({**_disc("payout_mismatch", "d-po", 0, "po_incomplete"), "detail": "2 members not in the export"})
    _publish(pg_url, rows, "run1")
    report = evaluate_and_page(pg_url, tmp_path, load_alerts_config(env={}), [LogSink()],
                               rules=["open_discrepancies_amount", "payout_mismatch"], now=NOW)
    got = {(o.rule, o.scope): (o.threshold, o.breached) for o in report.observations}
    assert got[("open_discrepancies_amount", "usd")] == (100_000, True)       # 1,000.00 usd
    assert got[("open_discrepancies_amount", "jpy")] == (150_000, False)      # ¥150,000 (per-currency override)
    assert got[("open_discrepancies_amount", "kwd")] == (1_000_000, True)     # 1,000.000 kwd: three decimals
    assert got[("payout_mismatch", "po_incomplete")][1]  # missing members page even with no difference
