"""Page on-call from the billing worker when a payment cannot be booked automatically (issue 12, defect 2).

Uses the same machinery as the pipeline's alert sensors (cashbook.alerts): the alert row is written to
`analytics.alerts` in the caller's transaction — together with the event's `manual_review` status — and only
after that commits are the configured sinks (PagerDuty, Slack, log) called. A sink that is down leaves the
alert undelivered; the next sensor evaluation (`payment_manual_review` rule, every 5 minutes) retries it.
"""

from __future__ import annotations

import datetime as dt
import logging

import psycopg
from psycopg_pool import ConnectionPool

from cashbook.alerts.config import AlertsConfig, load_alerts_config
from cashbook.alerts.engine import EvaluationReport, deliver, record
from cashbook.alerts.rules import payment_manual_review_observation
from cashbook.alerts.sinks import Sink, sinks_from_config

_log = logging.getLogger("cashbook.worker")


class Pager:
    def __init__(self, config: AlertsConfig, sinks: list[Sink]) -> None:
        self.config, self.sinks = config, sinks

    @classmethod
    def from_env(cls) -> Pager:
        config = load_alerts_config()
        return cls(config, sinks_from_config(config))

    def record(self, conn: psycopg.Connection, event_id: str, summary: str) -> str | None:
        """Open (or refresh) the alert inside the caller's transaction; returns its dedup key."""
        if not self.config.rule("payment_manual_review").enabled:
            return None
        obs = payment_manual_review_observation(self.config.api_url, event_id, summary[:500])
        record(conn, self.config, [obs], [], dt.datetime.now(dt.UTC), EvaluationReport())
        return obs.dedup_key

    def deliver(self, pool: ConnectionPool, dedup_key: str) -> None:
        """Send the page now (after the commit); failures stay recorded for the sensors to retry."""
        report = EvaluationReport()
        try:
            with pool.connection() as conn:
                deliver(conn, self.sinks, dt.datetime.now(dt.UTC), report, only=[dedup_key])
        except Exception:  # paging must never break the worker loop; the alert row is already committed
            _log.exception("paging %s failed; the alert sensors will retry", dedup_key)
            return
        for error in report.delivery_errors:
            _log.warning("page not delivered (will be retried): %s", error)
